from __future__ import annotations

import pytest

from worker.explain.offsets import MappedText, Unchanged, lowered
from worker.explain.spans import Explanation, HeatMap, Span, top_spans
from worker.explain.units import merge_units, only, without, words


def texts_of(text: str) -> list[str]:
    return [text[a:b] for a, b in words(text)]


def test_words_keep_links_emoji_and_non_ascii_whole() -> None:
    text = "Café naïve — don't far-right, 👍🏽 👨‍👩‍👧 #tag @bob (https://x.test/a?b=1). 3.5% _x"
    assert texts_of(text) == [
        "Café", "naïve", "don't", "far-right", "👍🏽", "👨‍👩‍👧", "#tag", "@bob",
        "https://x.test/a?b=1", "3", "5", "_x",
    ]  # fmt: skip


def test_offsets_are_code_points_not_utf8_or_utf16() -> None:
    text = "🙂🙂 ok"  # each emoji: 1 code point, 2 UTF-16 units, 4 UTF-8 bytes
    assert words(text) == [(0, 1), (1, 2), (3, 5)]


def test_merge_units_bounds_the_number_of_passes() -> None:
    units = [(i * 2, i * 2 + 1) for i in range(10)]
    merged = merge_units(units, 4)
    assert len(merged) == 4
    assert merged[0] == (0, 5) and merged[-1] == (18, 19)
    assert merge_units(units, 20) == units


def test_without_and_only() -> None:
    assert without("a bc d", [(2, 4)]) == "a   d"
    assert only("a bc d", [(5, 6), (0, 1)]) == "a d"


def test_lowered_maps_lengthening_back() -> None:
    m = lowered("İs OK")
    assert m.text == "i̇s ok"
    assert m.to_source(0, 3) == (0, 2)  # "i̇s" came from "İs"
    assert m.to_source(4, 6) == (3, 5)
    composed = lowered("X", MappedText("X", (7,)))
    assert composed.to_source(0, 1) == (7, 8)
    assert Unchanged("ab").to_source(0, 2) == (0, 2)


def test_top_spans_keeps_the_strongest_positive_ones() -> None:
    spans = [Span(0, 1, 0.2), Span(2, 3, 0.9), Span(4, 5, -2.0), Span(6, 7, 0.2)]
    assert top_spans(spans, 2) == (Span(2, 3, 0.9), Span(0, 1, 0.2))
    assert Span(0, 2, 1.0).with_text("ab cd").text == "ab"
    with pytest.raises(ValueError):
        Span(3, 3, 1.0)
    assert Explanation("x", "linear", (), 0.0).passes == 1
    heat = HeatMap("x", 0, 2, 2, (1.0, 2.0, 3.0, 4.0), 0.5)
    assert heat.grid() == [[1.0, 2.0], [3.0, 4.0]] and heat.passes == 5
    with pytest.raises(ValueError):
        HeatMap("x", 0, 2, 2, (1.0,), 0.5)
