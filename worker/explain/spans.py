"""The value objects of explanations: text spans and image heat maps.

A :class:`Span` is a half-open ``[start, end)`` range of Unicode code points in the text
as the producer sent it (Python string indices, not UTF-8 or UTF-16 units), with its
contribution to the category's logit. An :class:`Explanation` holds a bounded number of
the spans that pushed the score up (positive contributions), strongest first. A :class:`HeatMap` is a small
grid of contributions over one image, row-major from the top-left cell.

Example::

    spans = top_spans([Span(0, 4, 0.2), Span(5, 9, 0.9), Span(10, 12, -1.0)], k=2)
    # (Span(5, 9, 0.9), Span(0, 4, 0.2)): what pushed the score down is not a reason
    spans[0].with_text("some text")                               # text="text"
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

__all__ = ["Explanation", "HeatMap", "Method", "Span", "top_spans"]

#: How an explanation was computed: exact linear contributions, or occlusion.
Method = Literal["linear", "occlusion"]


@dataclass(frozen=True, slots=True)
class Span:
    """``text[start:end]`` (code points) moved the logit by ``contribution``."""

    start: int
    end: int
    contribution: float
    #: The span's characters, only when the settings ask for them (off by default).
    text: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"a span needs 0 <= start < end, got [{self.start}, {self.end})")

    def with_text(self, source: str) -> Span:
        return replace(self, text=source[self.start : self.end])


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one category scored what it did for one post's text.

    ``spans``: strongest first, at most the top-k asked for; ``base``: the logit with no
    span present (the intercept of a linear head, the logit of the empty text under
    occlusion is not computed, so ``None``); ``logit``: the logit of the full text;
    ``passes``: model calls it cost (1 for a linear head, 1 + units for occlusion).
    """

    category: str
    method: Method
    spans: tuple[Span, ...]
    logit: float
    base: float | None = None
    passes: int = 1


@dataclass(frozen=True, slots=True)
class HeatMap:
    """Contributions of ``rows`` x ``cols`` equal cells of one image, row-major.

    A cell's contribution is the drop of the category's logit when that cell is
    covered with the image's mean colour; ``passes`` is ``rows * cols + 1``.
    """

    category: str
    image: int
    rows: int
    cols: int
    cells: tuple[float, ...]
    logit: float

    def __post_init__(self) -> None:
        if len(self.cells) != self.rows * self.cols:
            raise ValueError(f"{len(self.cells)} cells for a {self.rows}x{self.cols} grid")

    @property
    def passes(self) -> int:
        return self.rows * self.cols + 1

    def grid(self) -> list[list[float]]:
        return [list(self.cells[r * self.cols : (r + 1) * self.cols]) for r in range(self.rows)]


def top_spans(spans: Iterable[Span], k: int) -> tuple[Span, ...]:
    """The ``k`` spans of largest positive contribution, strongest first (ties: leftmost)."""
    ordered = sorted((s for s in spans if s.contribution > 0), key=lambda s: (-s.contribution, s.start))
    return tuple(ordered[: max(0, k)])
