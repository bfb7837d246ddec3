"""The text normaliser: what a reader sees, with where each character came from.

Text models that read normalised text (the category heads, see docs/evasion.md) see
the text after these steps, in this order:

1. Unicode: NFKC per character cluster (full-width, mathematical and styled forms
   folded), generic diacritics and variation selectors stripped, invisible characters
   (zero-width, soft hyphen, bidirectional and other format controls, control
   characters) dropped (:mod:`worker.text.unicode`);
2. look-alike letters of other scripts folded to Latin, from Unicode's confusables
   data (:mod:`worker.text.confusables`);
3. spelling (:mod:`worker.text.spelling`): letters spelt out with spaces or punctuation
   joined, digits and symbols inside words read as letters, stretched letters squeezed;
4. words run together split apart (:mod:`worker.text.segment`): ``youarestupid``.

Numbers, abbreviations, URLs, mentions and hashtags are left as written. Each
character of the result knows the span of the original it came from, so a span
found in the normalised text maps back to the text as sent (in code points).

:data:`NORMALISER_ID` names this normaliser (its version and its table's): a model
trained on normalised text records it and refuses to run under another.

Example::

    found = normalise("ｈ а t е  $hiiit")
    found.text                         # 'hate shit'
    found.to_source(0, 4)              # (0, 7): 'ｈ а t е' as sent
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from worker.text.confusables import fold_confusables, table_id
from worker.text.offsets import Traced
from worker.text.segment import segment_id, split_words
from worker.text.spelling import protected, spell, squeeze
from worker.text.unicode import fold_unicode, judge_joiners

__all__ = ["NORMALISER_ID", "NORMALISER_VERSION", "Normalised", "normalise"]

#: Bump whenever a step changes what it writes for some text.
NORMALISER_VERSION: Final = 2
NORMALISER_ID: Final = f"moderation-normalise/{NORMALISER_VERSION}+{table_id()}+{segment_id()}"


@dataclass(frozen=True)
class Normalised:
    """A normalised text and, per character, the code point of the original it came from.

    ``source[i]`` is the index in the original of (the start of what produced)
    ``text[i]``; ``ends[i]`` the end of it (a folded ``é`` written as ``e`` plus a
    combining accent ends after the accent).
    """

    text: str
    source: tuple[int, ...]
    ends: tuple[int, ...] = ()
    #: length of the original text, in code points
    source_length: int = 0

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """The half-open span of the original that produced ``text[start:end]``."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span ({start}, {end}) lies outside a text of {len(self.text)} characters")
        if start == end:
            point = self.source[start] if start < len(self.text) else self.source_length
            return point, point
        last = self.ends[end - 1] if self.ends else self.source[end - 1] + 1
        return self.source[start], last


def normalise(text: str) -> Normalised:
    """The text as a reader sees it (see the module's docstring), with its offset map."""
    traced = fold_unicode(Traced.of(text))
    traced = fold_confusables(traced, protected(traced.text))
    traced = spell(traced)
    # Reading a word's digits can make it a mixed word (К0Đ -> КoĐ): fold once more.
    traced = fold_confusables(traced, protected(traced.text))
    traced = squeeze(traced)
    if not traced.text.isascii():
        # A squeezed word may now read as a word (F000Σ -> FoΣ: foo): fold and squeeze once
        # more, so that normalising twice changes nothing more than once.
        traced = squeeze(fold_confusables(traced, protected(traced.text)))
    traced = split_words(traced, protected(traced.text))
    if "\u200d" in traced.text:  # a symbol read as a letter no longer holds an emoji joiner
        traced = judge_joiners(traced)
    return Normalised(traced.text, traced.starts, traced.ends, len(text))
