"""Where a model's text came from: the offset map spans are carried back through.

A model may read a rewritten text (normalised, lower-cased). Each rewriting returns an
:class:`OffsetMap`, the interface of ``worker.text.normalise.Normalised``: ``text``
(what the model reads), ``source`` (``source[i]``: the code point of the original text
that ``text[i]`` came from) and ``to_source(start, end)``. :class:`Unchanged` is the
identity map (a model that reads the text as sent); :func:`lowered` is the map of
``str.lower``, which can lengthen a text (``"İ".lower()`` is two code points).

Example::

    m = lowered("İstanbul")        # m.text == "i̇stanbul" (9 code points)
    m.to_source(0, 3)              # (0, 2): "İs"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MappedText", "OffsetMap", "Unchanged", "lowered", "span_to_source"]


class OffsetMap(Protocol):
    """A rewritten text and where each of its code points came from."""

    @property
    def text(self) -> str: ...

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """The half-open span of the original text that ``text[start:end]`` came from."""


@dataclass(frozen=True, slots=True)
class Unchanged:
    """The identity map: the model reads the text as sent."""

    text: str

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        return start, end


@dataclass(frozen=True, slots=True)
class MappedText:
    """A rewritten ``text`` with ``source[i]``, the original index of ``text[i]``."""

    text: str
    source: tuple[int, ...]

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        return span_to_source(self.source, start, end)


def span_to_source(source: Sequence[int], start: int, end: int) -> tuple[int, int]:
    """Half-open ``[start, end)`` of a rewritten text -> the half-open span of the original."""
    if not 0 <= start < end <= len(source):
        raise ValueError(f"span [{start}, {end}) outside a text of {len(source)} code points")
    covered = source[start:end]
    return min(covered), max(covered) + 1


def lowered(text: str, mapped: OffsetMap | None = None) -> MappedText:
    """``text.lower()`` (as scikit-learn's vectorizers lower-case), with its offset map;
    composed with ``mapped`` when ``text`` is itself ``mapped.text``."""
    low = text.lower()
    if len(low) == len(text):  # the common case; Greek final sigma keeps the length too
        index: list[int] = list(range(len(text)))
    else:
        index = [i for i, char in enumerate(text) for _ in char.lower()]
        if len(index) != len(low):  # a context-dependent lowering we cannot align
            raise ValueError("lower-casing changed the text in a way that cannot be aligned")
    if mapped is not None:
        index = [mapped.to_source(i, i + 1)[0] for i in index]
    return MappedText(low, tuple(index))
