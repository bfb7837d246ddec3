"""Where a long text is cut into the windows that are scored, each on its own.

An encoder reads a few hundred tokens; a text longer than that used to be cut, so a
hateful tail could hide behind a long harmless head. Now a text is read in overlapping
windows of at most ``window_chars`` code points, up to ``bound_chars`` into the text;
every window is scored and, for each score, the highest window decides. What lies
beyond the bound is never scored and the verdict says so (``text.unscored`` and
``degraded: text_beyond_bound``). A short text is one window, scored as before.

Windows end at a white space where one lies in the last ``overlap_chars`` of the window,
and begin after one, so words are rarely cut; each window begins ``overlap_chars`` to twice
that before the previous one ended, so a phrase cut at one window's end is whole in the next.

Example::

    windows = WindowPolicy(window_chars=1000, overlap_chars=100, bound_chars=20_000).split(text)
    [text[a:b] for a, b in windows.spans]     # the texts scored
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final

from worker.model.types import PostScores

__all__ = ["TEXT_BEYOND_BOUND", "TextWindows", "WindowPolicy", "highest_window"]

#: ``degraded`` entry of a verdict whose text was not read to its end.
TEXT_BEYOND_BOUND: Final = "text_beyond_bound"


@dataclass(frozen=True, slots=True)
class TextWindows:
    """The windows of one text, as half-open spans of code points."""

    chars: int
    window_chars: int
    bound_chars: int
    spans: tuple[tuple[int, int], ...]

    @property
    def unscored(self) -> tuple[int, int] | None:
        """The span beyond the bound, never scored (None when the whole text was)."""
        return (self.bound_chars, self.chars) if self.chars > self.bound_chars else None

    def texts(self, text: str) -> list[str]:
        return [text[start:end] for start, end in self.spans]


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """How long texts are read (settings ``text_window_chars``, ``text_window_overlap_chars``,
    ``text_bound_chars``)."""

    window_chars: int = 1000
    overlap_chars: int = 100
    bound_chars: int = 50_000

    def __post_init__(self) -> None:
        if not 0 <= self.overlap_chars < self.window_chars <= self.bound_chars:
            raise ValueError(f"need 0 <= overlap < window <= bound, got {self!r}")

    def split(self, text: str) -> TextWindows:
        length = len(text)
        end_of_reading = min(length, self.bound_chars)
        spans: list[tuple[int, int]] = []
        start = 0
        while True:
            end = min(start + self.window_chars, end_of_reading)
            if end < end_of_reading:
                end = _back_to_space(text, start + self.window_chars - self.overlap_chars, end)
            spans.append((start, end))
            if end >= end_of_reading:
                break
            begin = max(end - self.overlap_chars, start + 1)
            start = _back_to_space(text, max(begin - self.overlap_chars, start + 1), begin)
        return TextWindows(length, self.window_chars, self.bound_chars, tuple(spans))


def _back_to_space(text: str, earliest: int, end: int) -> int:
    """``end`` moved back to just after a white space in ``[earliest - 1, end)``, if any."""
    for cut in range(end, max(earliest, 1) - 1, -1):
        if text[cut - 1].isspace():
            return cut
    return end


def highest_window(windows: Sequence[PostScores]) -> PostScores:
    """One post's scores from its windows' scores: each score from the window where it is
    highest (``deciding_windows`` says which). Per-image lists take the highest value per
    image; the entailment probabilities come whole from the window most contradictory."""
    if len(windows) == 1:
        return windows[0]
    if not windows:
        raise ValueError("a post has at least one window")
    deciding: dict[str, int] = {}

    def pick(name: str, key: Callable[[PostScores], float]) -> PostScores:
        index = max(range(len(windows)), key=lambda n: key(windows[n]))
        deciding[name] = index
        return windows[index]

    bias = pick("bias", lambda s: s.bias_score)
    entailment = None
    if any(s.entailment is not None for s in windows):
        entailment = pick("contradiction", lambda s: s.entailment[0] if s.entailment else -1.0).entailment
    categories = {}
    for name in sorted({name for s in windows for name in s.categories}):
        chosen = pick(name, partial(_category_score, name))
        categories[name] = chosen.categories[name]
    zero_shot = None
    if any(s.clip_zero_shot is not None for s in windows):
        labels = {label for s in windows for label in (s.clip_zero_shot or {})}
        zero_shot = {
            label: max((s.clip_zero_shot or {}).get(label, 0.0) for s in windows) for label in labels
        }
    return PostScores(
        bias_score=bias.bias_score,
        bias_image_scores=_highest_each([s.bias_image_scores for s in windows]),
        entailment=entailment,
        clip_similarity=_highest_each([s.clip_similarity for s in windows]),
        clip_zero_shot=zero_shot,
        categories=categories,
        deciding_windows=deciding,
    )


def _category_score(name: str, scores: PostScores) -> float:
    found = scores.categories.get(name)
    return found.score if found is not None else -1.0


def _highest_each(rows: Sequence[list[float]]) -> list[float]:
    """Per position, the highest value of the rows that have one."""
    longest = max((len(row) for row in rows), default=0)
    return [max(row[n] for row in rows if len(row) > n) for n in range(longest)]
