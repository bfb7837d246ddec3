"""Words run together split apart: ``youarestupid`` -> ``you are stupid``.

A run of letters (apostrophes inside it, ``ifyou'reugly``; a full stop may end it, not
lie inside it: ``site.com`` stays) of six letters or more that is no English word is
split into the most probable sequence of words (dynamic programming over the split
points and the word before, a beam of the cheapest few), with the word and word-pair
frequencies SymSpell ships (``symspellpy``'s English dictionary of 82,765 words and
243,342 pairs with their counts, from Google Books n-grams; a pair never seen backs off
to the word's own frequency, times 0.4). A piece that is no word of the list is kept
whole (``thats``), a stray letter glued back to the word before it. The split is kept
only when at least 75% of the run's letters lie in words of the list, no two one-letter
words stand side by side, every one-letter word is ``a`` or ``i``, and the run is not a
laugh or other repetition of a few letters (``hahahaha``). The same splitting separates
words spelt out side by side (``s t u p i d b i t c h``, see :func:`word_ends`).

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

__all__ = ["SEGMENT_PACKAGE", "Lexicon", "lexicon", "segment_id", "split_words", "word_ends"]

SEGMENT_PACKAGE: Final = "symspellpy"
_DICTIONARY: Final = "frequency_dictionary_en_82_765.txt"
_PAIRS: Final = "frequency_bigramdictionary_en_243_342.txt"
#: What a pair of words never seen together costs beyond the second word's own cost (log 0.4).
_BACKOFF: Final = -math.log(0.4)
#: Runs of letters shorter than this are left alone (too many short words are slang).
MIN_LENGTH: Final = 6
_LONGEST_WORD: Final = 20
#: Splits of each prefix kept, the cheapest, by their last word.
_BEAM: Final = 6
#: A run of letters, apostrophes inside (``ifyou'retoes``), not part of a name, link or
#: address; a full stop may end it (``getnaughty.``), not lie inside it (``site.com``).
_RUN: Final = re.compile(r"(?<![\w@#$&/.'])(?=[A-Za-z']{6})[A-Za-z]+(?:'[A-Za-z]+)*(?![\w/@'])(?!\.\w)")
#: Of a split's letters, at least this share lies in words of the list (the rest: pieces
#: that are no word, slang or names, ``thats``, kept whole).
_KNOWN_SHARE: Final = 0.75
_SINGLE: Final = frozenset("ai")


class Lexicon:
    """Words and their log-probabilities; a word not in it costs more the longer it is.

    With pairs of words and their counts, a word's cost depends on the word before it
    (stupid backoff: a pair never seen costs the word's own cost and :data:`_BACKOFF`).
    """

    def __init__(self, counts: dict[str, int], pairs: dict[str, int] | None = None) -> None:
        total = float(sum(counts.values()))
        self.log_p = {word: math.log(count / total) for word, count in counts.items()}
        self.unknown = math.log(10.0 / total)
        #: first word -> second word -> log P(second | first)
        self.log_next: dict[str, dict[str, float]] = {}
        for pair, count in (pairs or {}).items():
            first, _, second = pair.partition(" ")
            if first in counts:
                self.log_next.setdefault(first, {})[second] = min(0.0, math.log(count / counts[first]))

    def cost(self, word: str, before: str | None = None) -> float:
        if before is not None and self.log_next:
            found = self.log_next.get(before, {}).get(word)
            if found is not None:
                return -found
            return self.cost(word) + _BACKOFF
        found = self.log_p.get(word)
        if found is not None:
            return -found
        if word.startswith("'") or word.endswith("'"):
            return math.inf
        return -(self.unknown - 2.3 * len(word))

    def split(self, run: str) -> list[str]:
        """The most probable words of ``run`` (lower case), by dynamic programming over
        the split points and, with pairs, the word before."""
        # best[end][start]: the cheapest split of run[:end] whose last word is run[start:end]
        best: list[dict[int, tuple[float, int]]] = [{0: (0.0, -1)}] + [{} for _ in run]
        for end in range(1, len(run) + 1):
            here = best[end]
            for start in range(max(0, end - _LONGEST_WORD), end):
                word = run[start:end]
                alone = self.cost(word)
                if alone == math.inf:
                    continue
                for before, (cost, _) in best[start].items():
                    if start == 0:
                        total = cost + alone
                    else:
                        found = self.log_next.get(run[before:start], {}).get(word)
                        total = cost + (-found if found is not None else alone + _BACKOFF)
                    if start not in here or total < here[start][0]:
                        here[start] = (total, before)
            if len(here) > _BEAM:
                best[end] = dict(sorted(here.items(), key=lambda item: item[1][0])[:_BEAM])
        words, end = [], len(run)
        start = min(best[end], key=lambda s: best[end][s][0])
        while end > 0:
            words.append(run[start:end])
            end, start = start, best[end][start][1]
        return words[::-1]


@cache
def lexicon() -> Lexicon:
    """The English word list SymSpell ships, with its counts, and its pairs of words."""
    try:
        text = resources.files("symspellpy").joinpath(_DICTIONARY).read_text("utf-8")
        pairs_text = resources.files("symspellpy").joinpath(_PAIRS).read_text("utf-8")
    except (OSError, ModuleNotFoundError) as exc:
        raise ConfigError(f"cannot read the word list of {SEGMENT_PACKAGE}: {exc}") from exc
    counts = {}
    for line in text.splitlines():
        word, _, count = line.partition(" ")
        if count.strip().isdigit():
            counts[word] = int(count)
    pairs = {}
    for line in pairs_text.splitlines():
        pair, _, count = line.rpartition(" ")
        if count.strip().isdigit() and " " in pair:
            pairs[pair] = int(count)
    return Lexicon(counts, pairs)


@cache
def segment_id() -> str:
    """The package's version and a digest of its word list and pairs."""
    digest = hashlib.sha256()
    for name in (_DICTIONARY, _PAIRS):
        digest.update(resources.files("symspellpy").joinpath(name).read_bytes())
    return f"{SEGMENT_PACKAGE}-{version(SEGMENT_PACKAGE)}:{digest.hexdigest()[:12]}"


def _glued(words: list[str], known: Lexicon) -> list[str]:
    """A single letter that is no word (the ``s`` of ``that s``) glued back to the word before it."""
    out: list[str] = []
    for word in words:
        stray = len(word) == 1 and word not in known.log_p
        if out and (stray or (len(out[-1]) == 1 and out[-1] not in known.log_p)):
            out[-1] += word
        else:
            out.append(word)
    return out


def _acceptable(words: list[str], run: str, known: Lexicon) -> bool:
    if len(words) < 2 or len(set(run)) <= 3:
        return False
    if any(len(a) == 1 and len(b) == 1 for a, b in pairwise(words)):
        return False
    if any(len(word) == 1 and word not in _SINGLE for word in words):
        return False
    in_list = sum(len(word) for word in words if word in known.log_p)
    return in_list >= _KNOWN_SHARE * len(run)


def word_ends(letters: str) -> set[int]:
    """Where the words of letters spelt out one by one end (``ilove``: {1}), whatever their
    length; none when they spell one word or no acceptable split."""
    known = lexicon()
    if not letters.isalpha() or letters in known.log_p:
        return set()
    words = _glued(known.split(letters), known)
    if not _acceptable(words, letters, known):
        return set()
    ends, at = set(), 0
    for word in words[:-1]:
        at += len(word)
        ends.add(at)
    return ends


def _edits(run: str, offset: int, known: Lexicon) -> list[Edit]:
    lower = run.lower()
    if len(lower.replace("'", "")) < MIN_LENGTH or lower in known.log_p:
        return []
    words = _glued(known.split(lower), known)
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
