"""A text being rewritten, each of its characters with the span of the original it came from.

Every step of the normaliser takes a :class:`Traced` text and returns a new one; a
character keeps the original span of what produced it (``start``, ``end``: half-open,
in code points of the text as sent), so whatever is found in the rewritten text can
be pointed back at the text as the user wrote it.

Example::

    traced = Traced.of("h-a-t-e")
    joined = traced.rewrite([(1, 2, ""), (3, 4, ""), (5, 6, "")])
    joined.text, joined.starts          # 'hate', (0, 2, 4, 6)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Edit", "Traced"]

#: (start, end, replacement) over the current text; a replacement of the same length
#: keeps each character's origin, any other takes the origin of the span it replaces.
Edit = tuple[int, int, str]


@dataclass(frozen=True)
class Traced:
    """Text with, per character, the half-open span of the original it came from."""

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, original: str) -> Traced:
        return cls(original, tuple(range(len(original))), tuple(range(1, len(original) + 1)))

    def rewrite(self, edits: Iterable[Edit]) -> Traced:
        """Apply non-overlapping edits (any order); the rest is kept as it is."""
        chars: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        at = 0
        for start, end, replacement in sorted(edits):
            if start < at or end < start or end > len(self.text):
                raise ValueError(f"edit ({start}, {end}) overlaps another or lies outside the text")
            chars.append(self.text[at:start])
            starts.extend(self.starts[at:start])
            ends.extend(self.ends[at:start])
            if replacement and end - start == len(replacement):
                starts.extend(self.starts[start:end])
                ends.extend(self.ends[start:end])
            elif replacement:
                # A span rewritten to another length: every new character stands for all of
                # it; an insertion, for the character it is inserted before.
                origin, finish = (
                    (self.starts[start], self.ends[end - 1]) if end > start else self._near(start)
                )
                starts.extend([origin] * len(replacement))
                ends.extend([finish] * len(replacement))
            chars.append(replacement)
            at = end
        chars.append(self.text[at:])
        starts.extend(self.starts[at:])
        ends.extend(self.ends[at:])
        return Traced("".join(chars), tuple(starts), tuple(ends))

    def _near(self, index: int) -> tuple[int, int]:
        """The span an insertion before ``index`` stands for: the next character's (the last's at the end)."""
        if not self.starts:
            raise ValueError("nothing to insert beside in an empty text")
        at = min(index, len(self.starts) - 1)
        return self.starts[at], self.ends[at]
