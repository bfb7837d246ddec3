"""The Unicode steps: compatibility forms folded, invisible characters and diacritics removed.

A text is read one *cluster* at a time (a character and the combining marks that
follow it). Each cluster is brought to NFKC (full-width and mathematical letters,
ligatures, circled and styled forms become plain ones), decomposed, stripped of the
generic diacritics (the Combining Diacritical Marks blocks, which "zalgo" text piles
on, and the variation selectors), and recomposed; the marks of other scripts (the
vowel signs of Devanagari, say) are kept. Invisible characters are dropped: format
characters (zero-width space and joiners, the soft hyphen, bidirectional controls,
tag characters), control characters other than tab and line breaks, and the blank
fillers of Hangul and Braille. A zero-width joiner between two pictographic symbols
is kept, as it builds emoji sequences (👩‍💻).

Example::

    fold_unicode(Traced.of("ｈ\u200bａ́te")).text     # 'hate'
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final

from worker.text.offsets import Traced

__all__ = ["fold_unicode", "is_diacritic", "is_invisible", "judge_joiners"]

#: Blocks of generic combining diacritics (not the vowel signs and marks of other scripts).
_DIACRITIC_BLOCKS: Final = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),  # Cyrillic titlo and enclosing signs, favourites of zalgo text
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
_VARIATION_SELECTORS: Final = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF), (0x180B, 0x180F))
#: Letters and symbols that render as nothing (Hangul fillers, Khmer inherent vowels, Braille blank).
_BLANKS: Final = frozenset("\u115f\u1160\u3164\uffa0\u17b4\u17b5\u2800")
_KEPT_CONTROLS: Final = frozenset("\t\n\r")
_ZWJ: Final = "\u200d"
#: Printable ASCII, tab and line breaks: what every step of this module leaves as it is.
_PLAIN: Final = re.compile(r"[\t\n\r\x20-\x7e]+")


def _within(ch: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    code = ord(ch)
    return any(low <= code <= high for low, high in ranges)


@lru_cache(maxsize=4096)
def is_diacritic(ch: str) -> bool:
    """A generic combining diacritic, an enclosing mark or a variation selector (removed)."""
    if unicodedata.category(ch) == "Me":
        return True
    return _within(ch, _DIACRITIC_BLOCKS) or _within(ch, _VARIATION_SELECTORS)


@lru_cache(maxsize=4096)
def is_invisible(ch: str) -> bool:
    """A character a reader does not see: format, control (not tab or line breaks), blank filler."""
    category = unicodedata.category(ch)
    if category == "Cf" or ch in _BLANKS:
        return True
    return category == "Cc" and ch not in _KEPT_CONTROLS


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def _symbolic(ch: str | None) -> bool:
    """A pictographic symbol (an emoji, a skin tone), what a zero-width joiner joins; not
    punctuation or currency signs, which may be read as letters (``$``, ``@``)."""
    return ch is not None and unicodedata.category(ch) in ("So", "Sk")


@lru_cache(maxsize=4096)
def _fold_cluster(cluster: str) -> str:
    decomposed = unicodedata.normalize("NFD", unicodedata.normalize("NFKC", cluster))
    kept = "".join(ch for ch in decomposed if not is_diacritic(ch) and not is_invisible(ch))
    return unicodedata.normalize("NFC", kept)


def _plain_until(text: str, i: int) -> int:
    """The end of the run of plain characters at ``i`` that no combining mark follows."""
    match = _PLAIN.match(text, i)
    if match is None:
        return i
    end = match.end()
    if end < len(text) and _is_mark(text[end]):
        end -= 1  # that character and its marks are one cluster
    return end


def fold_unicode(traced: Traced) -> Traced:
    """NFKC, diacritics stripped, invisible characters dropped, one cluster at a time."""
    text = traced.text
    if _PLAIN.fullmatch(text) or not text:
        return traced
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    i = 0
    while i < len(text):
        plain = _plain_until(text, i)
        if plain > i:
            chars.append(text[i:plain])
            starts.extend(traced.starts[i:plain])
            ends.extend(traced.ends[i:plain])
            i = plain
            continue
        j = i + 1
        while j < len(text) and _is_mark(text[j]):
            j += 1
        # A joiner is kept for now and judged below by what it joins once folded.
        folded = _ZWJ if text[i] == _ZWJ and j == i + 1 else _fold_cluster(text[i:j])
        chars.append(folded)
        starts.extend([traced.starts[i]] * len(folded))
        ends.extend([traced.ends[j - 1]] * len(folded))
        i = j
    folded_text = Traced("".join(chars), tuple(starts), tuple(ends))
    return judge_joiners(folded_text) if _ZWJ in folded_text.text else folded_text


def judge_joiners(traced: Traced) -> Traced:
    """Drop each zero-width joiner that does not stand between two symbols (emoji)."""
    text = traced.text
    edits = [
        (i, i + 1, "")
        for i, ch in enumerate(text)
        if ch == _ZWJ
        and not (
            _symbolic(text[i - 1] if i else None) and _symbolic(text[i + 1] if i + 1 < len(text) else None)
        )
    ]
    return traced.rewrite(edits) if edits else traced
