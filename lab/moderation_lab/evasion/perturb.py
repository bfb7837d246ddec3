"""The ways people spell a post past a text filter, as seeded rewrites of a text.

Built apart from the worker's normaliser on purpose, so that the benchmark does not test
a table against itself: the look-alikes are a hand-picked list (Cyrillic, Greek,
Armenian, Cherokee, Latin extensions and IPA, chosen by eye, not drawn from Unicode's
confusables data), the leetspeak includes substitutions the normaliser does not read
(``|`` for ``l``, ``+`` for ``t``, ``8`` for ``b``), and the invisible characters,
separators and accents are picked at random positions from lists of their own.

Word-level families rewrite each word of three letters or more (not ``@mentions``,
``#hashtags`` or links) with probability :data:`WORD_SHARE`; the others rewrite the
whole text. Every rewrite is a pure function of the text and a seed.

Example::

    rewrite("you stupid idiot", "lookalike", seed=3)       # 'yоu stupіd іdiot'
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Final

__all__ = ["FAMILIES", "WORD_SHARE", "rewrite"]

#: Share of a text's eligible words each word-level family rewrites.
WORD_SHARE: Final = 0.5

_WORD: Final = re.compile(r"(?<![@#\w/&])[A-Za-z]{3,}(?![\w/;]|://)")
_PLAIN_WORD: Final = re.compile(r"[A-Za-z']+")

#: Hand-picked look-alikes (Latin letter -> letters of other scripts that a reader takes for it).
LOOKALIKES: Final = {
    "a": "аɑαạ",
    "b": "Ьƅ",
    "c": "сϲᴄ",
    "d": "ԁɗ",
    "e": "еєҽẹ",
    "g": "ɡց",
    "h": "һհ",
    "i": "іɩӏι",
    "j": "ј",
    "k": "κк",
    "l": "ӏǀ",
    "m": "ṃ",
    "n": "ոռ",
    "o": "оοօσ",
    "p": "рρ",
    "q": "ԛ",
    "r": "ꭇг",
    "s": "ѕʂ",
    "t": "τƚ",
    "u": "υս",
    "v": "ѵν",
    "w": "ԝѡ",
    "x": "хχ",
    "y": "уүγ",
    "z": "ᴢʐ",
}
_LEET: Final = {
    "a": "4@",
    "b": "8",
    "e": "3",
    "g": "9",
    "i": "1!|",
    "l": "1|",
    "o": "0",
    "s": "5$",
    "t": "7+",
}
_INVISIBLE: Final = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u2062"
_SEPARATORS: Final = ".-*_"
_ACCENTS: Final = "".join(map(chr, range(0x0300, 0x0370)))


def _pick_positions(word: str, rng: random.Random, most: int) -> list[int]:
    count = rng.randint(1, min(most, len(word)))
    return sorted(rng.sample(range(len(word)), count))


def _invisible(word: str, rng: random.Random) -> str:
    cuts = sorted(rng.sample(range(1, len(word)), rng.randint(1, min(3, len(word) - 1))))
    out, last = [], 0
    for cut in cuts:
        out += [word[last:cut], rng.choice(_INVISIBLE)]
        last = cut
    return "".join([*out, word[last:]])


def _substitute(table: dict[str, str], share: float) -> Callable[[str, random.Random], str]:
    def rewrite_word(word: str, rng: random.Random) -> str:
        letters = [i for i, ch in enumerate(word) if ch.lower() in table]
        if not letters:
            return word
        chosen = set(rng.sample(letters, max(1, round(len(letters) * share))))
        return "".join(rng.choice(table[ch.lower()]) if i in chosen else ch for i, ch in enumerate(word))

    return rewrite_word


def _separated(separators: str) -> Callable[[str, random.Random], str]:
    return lambda word, rng: rng.choice(separators).join(word)


def _stretched(word: str, rng: random.Random) -> str:
    at = rng.randrange(len(word))
    return word[:at] + word[at] * rng.randint(3, 6) + word[at + 1 :]


def _accented(word: str, rng: random.Random) -> str:
    marks = {
        i: "".join(rng.choice(_ACCENTS) for _ in range(rng.randint(1, 2)))
        for i in _pick_positions(word, rng, 3)
    }
    return "".join(ch + marks.get(i, "") for i, ch in enumerate(word))


def _fullwidth(word: str, rng: random.Random) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) for ch in word)


_WORD_FAMILIES: Final[dict[str, Callable[[str, random.Random], str]]] = {
    "invisible characters": _invisible,
    "look-alike letters": _substitute(LOOKALIKES, 0.5),
    "leetspeak": _substitute(_LEET, 0.4),
    "spaced letters": _separated(" "),
    "punctuated letters": _separated(_SEPARATORS),
    "stretched letters": _stretched,
    "combining accents": _accented,
    "full-width forms": _fullwidth,
}


def _run_together(text: str, rng: random.Random) -> str:
    """The spaces between plain words removed (``you are stupid`` -> ``youarestupid``)."""
    tokens = text.split(" ")
    out = tokens[:1]
    for token in tokens[1:]:
        if _PLAIN_WORD.fullmatch(out[-1].split(" ")[-1]) and _PLAIN_WORD.fullmatch(token):
            out[-1] += token
        else:
            out.append(token)
    return " ".join(out)


_TEXT_FAMILIES: Final[dict[str, Callable[[str, random.Random], str]]] = {
    "word boundaries removed": _run_together,
    "benign word appended": lambda text, rng: f"{text} love",
    "upper case": lambda text, rng: text.upper(),
}
#: Every family, in the order of the table.
FAMILIES: Final = (*_WORD_FAMILIES, *_TEXT_FAMILIES)


def rewrite(text: str, family: str, seed: int) -> str:
    """``text`` as an evader of ``family`` writes it (deterministic for a seed)."""
    rng = random.Random(f"{family}:{seed}")
    if family in _TEXT_FAMILIES:
        return _TEXT_FAMILIES[family](text, rng)
    rewrite_word = _WORD_FAMILIES[family]

    def maybe(match: re.Match[str]) -> str:
        return rewrite_word(match.group(), rng) if rng.random() < WORD_SHARE else match.group()

    return _WORD.sub(maybe, text)
