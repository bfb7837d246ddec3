"""Words run together split apart: ``youarestupid`` -> ``you are stupid``.

A long run of letters that is no English word is split into the most probable
sequence of words under a unigram model (dynamic programming over the split points),
with the word frequencies SymSpell ships (``symspellpy``'s English dictionary of
82,765 words with their counts, from Google Books n-grams). The split is kept only when
every part is a word of that list, no two one-letter words stand side by side, and
the run is not a laugh or other repetition of a few letters (``hahahaha``). The same
splitting joins letters spelt out across several words (``s t u p i d b i t c h``,
joined by :mod:`worker.text.spelling`, then split here).

Example::

    split_words(Traced.of("shutupyoustupidbitch")).text      # 'shut up you stupid bitch'
"""

from __future__ import annotations

import hashlib
import math
import re
from functools import cache
from importlib import resources
from importlib.metadata import version
from itertools import pairwise
from typing import Final

from worker.errors import ConfigError
from worker.text.offsets import Edit, Traced

__all__ = ["SEGMENT_PACKAGE", "Lexicon", "lexicon", "segment_id", "split_words"]

SEGMENT_PACKAGE: Final = "symspellpy"
_DICTIONARY: Final = "frequency_dictionary_en_82_765.txt"
#: Runs of letters shorter than this are left alone (too many short words are slang).
MIN_LENGTH: Final = 6
_LONGEST_WORD: Final = 20
_RUN: Final = re.compile(r"(?<![\w@#$&/.])[A-Za-z]{6,}(?![\w/.@])")
_SINGLE: Final = frozenset("ai")


class Lexicon:
    """Words and their log-probabilities; a word not in it costs more the longer it is."""

    def __init__(self, counts: dict[str, int]) -> None:
        total = float(sum(counts.values()))
        self.log_p = {word: math.log(count / total) for word, count in counts.items()}
        self.unknown = math.log(10.0 / total)

    def cost(self, word: str) -> float:
        found = self.log_p.get(word)
        return -found if found is not None else -(self.unknown - 2.3 * len(word))

    def split(self, run: str) -> list[str]:
        """The most probable words of ``run`` (lower case), by dynamic programming."""
        best = [0.0] + [math.inf] * len(run)
        back = [0] * (len(run) + 1)
        for end in range(1, len(run) + 1):
            for start in range(max(0, end - _LONGEST_WORD), end):
                cost = best[start] + self.cost(run[start:end])
                if cost < best[end]:
                    best[end], back[end] = cost, start
        words, end = [], len(run)
        while end > 0:
            words.append(run[back[end] : end])
            end = back[end]
        return words[::-1]


@cache
def lexicon() -> Lexicon:
    """The English word list SymSpell ships, with its counts."""
    try:
        text = resources.files("symspellpy").joinpath(_DICTIONARY).read_text("utf-8")
    except (OSError, ModuleNotFoundError) as exc:
        raise ConfigError(f"cannot read the word list of {SEGMENT_PACKAGE}: {exc}") from exc
    counts = {}
    for line in text.splitlines():
        word, _, count = line.partition(" ")
        if count.strip().isdigit():
            counts[word] = int(count)
    return Lexicon(counts)


@cache
def segment_id() -> str:
    """The package's version and a digest of its word list."""
    raw = resources.files("symspellpy").joinpath(_DICTIONARY).read_bytes()
    return f"{SEGMENT_PACKAGE}-{version(SEGMENT_PACKAGE)}:{hashlib.sha256(raw).hexdigest()[:12]}"


def _acceptable(words: list[str], run: str, known: Lexicon) -> bool:
    if len(words) < 2 or any(word not in known.log_p for word in words):
        return False
    if any(len(a) == 1 and len(b) == 1 for a, b in pairwise(words)):
        return False
    return all(len(word) > 1 or word in _SINGLE for word in words) and len(set(run)) > 3


def _edits(run: str, offset: int, known: Lexicon) -> list[Edit]:
    lower = run.lower()
    if lower in known.log_p:
        return []
    words = known.split(lower)
    if not _acceptable(words, lower, known):
        return []
    cuts, at = [], 0
    for word in words[:-1]:
        at += len(word)
        cuts.append((offset + at, offset + at, " "))
    return cuts


def split_words(traced: Traced, protected: list[tuple[int, int]] | None = None) -> Traced:
    """Split each long run of letters that is no word but several (see the module's docstring)."""
    edits: list[Edit] = []
    for match in _RUN.finditer(traced.text):
        if protected and any(s < match.end() and match.start() < e for s, e in protected):
            continue
        edits.extend(_edits(match.group(), match.start(), lexicon()))
    return traced.rewrite(edits) if edits else traced
