"""Long texts are read all along, in windows up to a bound; the highest window decides."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.inference.windows import WindowPolicy, highest_window
from worker.model.categories import CategoryScore
from worker.model.types import PostScores


def scores(bias: float, hate: float | None = None, images: list[float] | None = None) -> PostScores:
    categories = {"hate": CategoryScore(hate, ("text",), ("hate_head",))} if hate is not None else {}
    return PostScores(bias, images or [], None, [], None, categories)


def test_a_short_text_is_one_window() -> None:
    windows = WindowPolicy().split("a short post")
    assert windows.spans == ((0, 12),) and windows.unscored is None


def test_an_empty_text_is_one_empty_window() -> None:
    assert WindowPolicy().split("").spans == ((0, 0),)


@settings(deadline=None, max_examples=200)
@given(
    st.text(st.sampled_from("ab \n"), max_size=3000),
    st.integers(64, 400),
    st.integers(0, 63),
    st.integers(400, 2000),
)
def test_windows_cover_the_text_up_to_the_bound_each_within_the_window(
    text: str, window: int, overlap: int, bound: int
) -> None:
    windows = WindowPolicy(window, overlap, bound).split(text)
    covered = set()
    for start, end in windows.spans:
        assert 0 <= start < end or (start, end) == (0, 0)
        assert end - start <= window
        covered.update(range(start, end))
    assert covered == set(range(min(len(text), bound)))
    starts = [start for start, _ in windows.spans]
    assert starts == sorted(set(starts))  # always moving on
    assert windows.unscored == ((bound, len(text)) if len(text) > bound else None)


def test_windows_end_and_begin_at_spaces_and_overlap() -> None:
    text = " ".join(f"word{n}" for n in range(400))
    windows = WindowPolicy(100, 20, 10_000).split(text)
    for (_, end), (next_start, _) in zip(windows.spans, windows.spans[1:], strict=False):
        assert text[end - 1] == " " and text[next_start - 1] == " "
        assert next_start < end  # the next window repeats the end of this one


def test_an_impossible_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        WindowPolicy(100, 100, 1000)


def test_each_score_comes_from_its_highest_window() -> None:
    combined = highest_window([scores(0.2, 0.9, [0.1, 0.5]), scores(0.7, 0.3, [0.4, 0.2]), scores(0.1)])
    assert combined.bias_score == 0.7 and combined.categories["hate"].score == 0.9
    assert combined.bias_image_scores == [0.4, 0.5]
    assert combined.deciding_windows == {"bias": 1, "hate": 0}


def test_one_window_is_returned_as_it_is() -> None:
    only = scores(0.3)
    assert highest_window([only]) is only
