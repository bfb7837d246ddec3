"""The words of a text that explanations score and occlusion removes.

A unit is a link (kept whole: masking half a URL says nothing), a word (letters,
digits and underscores in any script, with inner apostrophes or hyphens:
``don't``, ``far-right``), or one symbol character such as an emoji; punctuation
is not a unit. Offsets are code points, half-open.

Example::

    words("Vote NO 👎 https://x.test/a!")   # [(0, 4), (5, 7), (8, 9), (10, 26)]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

__all__ = ["merge_units", "only", "without", "words"]

# A symbol keeps its skin-tone modifiers, variation selectors and zero-width-joined parts.
_SYMBOL = r"[^\w\s](?:[\ufe0e\ufe0f\U0001F3FB-\U0001F3FF]|\u200d[^\w\s])*"
_UNIT = re.compile(r"(?:https?://|www\.)\S+[^\s.,;:!?)\]}'\"]|[#@]?\w+(?:['’-]\w+)*|" + _SYMBOL)

_WORDLIKE = re.compile(r"[#@]?\w")


def words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each unit of ``text``, in order."""
    found = []
    for match in _UNIT.finditer(text):
        token = match.group()
        if not _WORDLIKE.match(token) and not _is_symbol(token[0]):
            continue  # punctuation
        found.append(match.span())
    return found


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char).startswith("S")


def merge_units(units: list[tuple[int, int]], most: int) -> list[tuple[int, int]]:
    """At most ``most`` units: runs of neighbouring units joined, each run as long as needed."""
    if most < 1:
        raise ValueError("at least one unit")
    if len(units) <= most:
        return list(units)
    size = -(-len(units) // most)
    return [(units[i][0], units[min(i + size, len(units)) - 1][1]) for i in range(0, len(units), size)]


def without(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each span replaced by one space (so its neighbours stay apart)."""
    parts, last = [], 0
    for start, end in sorted(spans):
        parts.append(text[last:start])
        parts.append(" ")
        last = max(last, end)
    parts.append(text[last:])
    return "".join(parts)


def only(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """The spans of ``text`` alone, in order, joined by spaces."""
    return " ".join(text[start:end] for start, end in sorted(spans))
