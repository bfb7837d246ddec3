"""The spelling steps: spelt-out letters joined, digits and symbols read as letters, stretches squeezed.

What these steps never touch (:func:`protected`): URLs, e-mail addresses, ``@user``
mentions, ``#hashtags``, ``$CASHTAGS`` and HTML entities. A digit or symbol is read
as a letter only inside a word that also holds letters, and only where a reader
would (``h4te``, ``sh!t``, ``n1gg3r``, ``$hit``, ``a$$``, ``@ss``): ``2020``,
``COVID-19``, ``3.5``, ``mp3``, ``4chan`` and ``1st`` stay as written.

Example::

    squeeze(spell(Traced.of("h a t e  sh1iiiit"))).text      # 'hate  shit'
"""

from __future__ import annotations

import re
from itertools import product
from typing import Final

from worker.text.offsets import Edit, Traced
from worker.text.segment import lexicon, word_ends

__all__ = ["LEET", "join_spelt", "protected", "read_leet", "spell", "squeeze"]

Span = tuple[int, int]

#: What the spelling steps leave as written, each with a character it cannot be without
#: (looking for that first spares the regular expression most texts).
_PROTECTED: Final = (
    ("/", re.compile(r"(?i:https?://)\S+")),  # URLs
    (".", re.compile(r"(?i:www\.)\S+")),
    ("@", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),  # e-mail addresses
    ("@", re.compile(r"(?<![\w@$])@(?!ss|\$)\w+")),  # mentions (not "@ss...", read as "ass...")
    ("#", re.compile(r"#\w+")),  # hashtags
    ("$", re.compile(r"(?<!\w)\$[A-Z]{1,6}\b")),  # cashtags
    ("&", re.compile(r"&#?\w+;")),  # HTML entities
)

#: Digits and symbols read as letters (inside words holding letters; ``!``, ``+`` and ``|``
#: only between letters: ``sh!t``, ``s+upid``, ``ki|l``).
LEET: Final = dict(zip("0134579@$!+|", "oieastgasitl", strict=True))
#: Symbols also read at a word's edge next to its letters (``$hit``, ``a$$``, ``@ss``).
_EDGE_SYMBOLS: Final = frozenset("@$")

_SEPARATOR: Final = r"[ .\-_*/|+~,:]{1,3}"
# Not glued to a contraction either side ("n n I'm" is slang, not a spelt-out word), but
# for the endings of a spelt-out word's own contraction (d o e s n't, y o u're).
_SPELT: Final = re.compile(
    rf"(?<![^\W_])(?<!\w')[^\W_@$](?P<sep>{_SEPARATOR})[^\W_@$](?:(?P=sep)[^\W_@$])+(?![^\W_])"
    r"(?!'(?!(?:t|s|re|ll|ve)\b)\w)"
)
#: What each digit or symbol may stand for, where the reading makes a known word (``|d|o+``
#: -> ``idiot``, ``ki11`` -> ``kill``, ``8itch`` -> ``bitch``), wherever it stands in the word.
_READINGS: Final = {**{ch: letter for ch, letter in LEET.items()}, "1": "il", "|": "li", "8": "b"}
_MOST_READ: Final = 5
_LEET_CHAR: Final = re.compile(r"[01345789@$!+|]")
_TOKEN: Final = re.compile(r"[^\W_]+(?:[@$!+|]+[^\W_]*)*|[@$!+|]+[^\W_]+(?:[@$!+|]+[^\W_]*)*")
_RUN: Final = re.compile(r"[^\W\d_]+|[0134579@$!+|]+|\d+")
_STRETCH: Final = re.compile(r"([^\W\d_])\1{2,}")
#: A letter repeated this many times or more is a stretch, squeezed to ``_KEEP`` letters.
_KEEP: Final = 1


def protected(text: str) -> list[Span]:
    """Spans that the spelling steps leave as written."""
    return [m.span() for needed, pattern in _PROTECTED if needed in text for m in pattern.finditer(text)]


def _free(span: Span, spans: list[Span]) -> bool:
    return not any(s < span[1] and span[0] < e for s, e in spans)


def join_spelt(traced: Traced) -> Traced:
    """``h a t e``, ``h.a.t.e``, ``h-a-t-e``: three or more single letters (at least two of
    them letters, not digits) with one separator between them become one word; spelt out
    with spaces, several words (``I l o v e``: I love) where :func:`word_ends` finds them."""
    keep = protected(traced.text)
    edits: list[Edit] = []
    for match in _SPELT.finditer(traced.text):
        run = match.group()
        if not _free(match.span(), keep) or sum(ch.isalpha() for ch in run) < 2:
            continue
        step = len(match.group("sep"))
        separators = range(match.start() + 1, match.end() - 1, step + 1)
        # Words spelt out side by side with spaces (``I l o v e``, ``l i k e a``: one word
        # cannot be told from the next) keep a space between them; with other separators,
        # each spelt-out word is a run of its own (``h.e.l.l.a`` is one word).
        cuts = word_ends(run[:: step + 1].lower()) if match.group("sep").isspace() else set()
        edits.extend((at, at + step, " " if n in cuts else "") for n, at in enumerate(separators, start=1))
    return traced.rewrite(edits) if edits else traced


def _word_reading(token: str) -> str | None:
    """The most frequent known word the token spells with its digits and symbols read."""
    at = [i for i, ch in enumerate(token) if ch in _READINGS]
    if not at or len(at) > _MOST_READ or len(token) < 4 or sum(ch.isalpha() for ch in token) < 2:
        return None
    known = lexicon().log_p
    best: tuple[float, str] | None = None
    for letters in product(*(_READINGS[token[i]] for i in at)):
        chars = list(token)
        for i, letter in zip(at, letters, strict=True):
            chars[i] = letter
        word = "".join(chars)
        found = known.get(word.lower())
        if found is not None and (best is None or found > best[0]):
            best = (found, word)
    return best[1] if best else None


def _token_edits(token: str, offset: int) -> list[Edit]:
    word = _word_reading(token)
    if word is not None:
        return [(offset + i, offset + i + 1, word[i]) for i, ch in enumerate(token) if ch != word[i]]
    return _rule_edits(token, offset)


def _rule_edits(token: str, offset: int) -> list[Edit]:
    """Where no known word is spelt: digits and symbols between letters (and at the edges of
    a word that reads some inside), ``$``/``@`` beside letters."""
    runs = [(m.start(), m.end(), m.group()) for m in _RUN.finditer(token)]
    letters = [i for i, (_, _, run) in enumerate(runs) if run[0].isalpha()]
    if not letters:
        return []
    read: list[int] = []
    for i, (_, _, run) in enumerate(runs):
        if run[0].isalpha() or not all(ch in LEET for ch in run):
            continue
        interior = letters[0] < i < letters[-1]
        if interior or set(run) <= _EDGE_SYMBOLS:
            read.append(i)
    # A leet word starts or ends with a digit too (1d10t, h4t3), once it has read one inside
    # (not 4chan, mp3, covid19).
    if read:
        for edge, neighbour in ((0, 1), (len(runs) - 1, len(runs) - 2)):
            run = runs[edge][2]
            if (
                edge not in read
                and run[0].isdigit()
                and all(ch in LEET for ch in run)
                and neighbour in letters
            ):
                read.append(edge)
    edits: list[Edit] = []
    for i in read:
        start, end, run = runs[i]
        edits.append((offset + start, offset + end, "".join(LEET[ch] for ch in run)))
    return edits


def read_leet(traced: Traced) -> Traced:
    """Digits and symbols inside words that hold letters, read as the letters they stand for."""
    if not _LEET_CHAR.search(traced.text):
        return traced
    keep = protected(traced.text)
    edits: list[Edit] = []
    for match in _TOKEN.finditer(traced.text):
        if _LEET_CHAR.search(match.group()) and _free(match.span(), keep):
            edits.extend(_token_edits(match.group(), match.start()))
    return traced.rewrite(edits) if edits else traced


def squeeze(traced: Traced) -> Traced:
    """A letter written three times or more in a row (``shiiiit``) is written ``_KEEP`` times."""
    keep = protected(traced.text)
    edits: list[Edit] = [
        (m.start() + _KEEP, m.end(), "") for m in _STRETCH.finditer(traced.text) if _free(m.span(), keep)
    ]
    return traced.rewrite(edits) if edits else traced


def spell(traced: Traced) -> Traced:
    """Spelt-out letters joined, then digits and symbols read (squeezing comes last, see
    :func:`worker.text.normalise.normalise`)."""
    return read_leet(join_spelt(traced))
