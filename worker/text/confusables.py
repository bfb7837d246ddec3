"""Look-alike letters of other scripts folded to the Latin letters they imitate.

The table is Unicode's confusables data (UTS #39) as shipped by the
``confusable-homoglyphs`` package: every single character it lists as confusable
with an ASCII letter or digit maps to that character (Cyrillic ``а`` -> ``a``, Greek
``ο`` -> ``o``, Cherokee ``Ꭺ`` -> ``A``); beside it, the Latin letters with hooks,
bars and tails and the small capitals, by their Unicode names (``ʂ`` -> ``s``).
Real words of other scripts are left alone: a word's look-alikes are folded only when
the word also holds ASCII letters (a mixed word, ``hаte`` with a Cyrillic ``а``) or
when every letter in it has a Latin look-alike (``һаtе`` written wholly in look-alikes).
In a mixed word, up to two letters that no table reads are guessed from the English
words they could make (``ѕτupid``: the Greek tau, absent from the confusables, is the
``t`` of ``stupid``).
A Russian or Greek word almost always holds letters with no Latin twin, and stays as
written.

Example::

    fold_confusables(Traced.of("ѕһіt")).text     # 'shit'
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import unicodedata
from functools import cache
from importlib import resources
from importlib.metadata import version
from itertools import product
from typing import Final

from worker.errors import ConfigError
from worker.text.offsets import Edit, Traced
from worker.text.segment import lexicon

__all__ = ["TABLE_PACKAGE", "fold_confusables", "fold_table", "table_id"]

TABLE_PACKAGE: Final = "confusable-homoglyphs"
_TARGETS: Final = frozenset(string.ascii_letters + string.digits)
_WORD: Final = re.compile(r"[^\W_]+")
#: Blocks of Latin letters with hooks, bars, tails and small capitals (Latin Extended-B,
#: IPA, phonetic extensions, Latin Extended-C, -D and -E).
_LATIN_VARIANT_BLOCKS: Final = (
    (0x0180, 0x024F),
    (0x0250, 0x02AF),
    (0x1D00, 0x1DBF),
    (0x2C60, 0x2C7F),
    (0xA720, 0xA7FF),
    (0xAB30, 0xAB6F),
)
_LATIN_VARIANT: Final = re.compile(
    r"LATIN (?:(SMALL|CAPITAL) LETTER|LETTER SMALL (CAPITAL)) ([A-Z])(?: WITH .*)?"
)


def _latin_variants() -> dict[str, str]:
    """Latin letters that carry a hook, bar, tail or stroke (or are small capitals), read
    as their base letter by Unicode's own naming: ``ʂ`` LATIN SMALL LETTER S WITH HOOK -> s."""
    found = {}
    for low, high in _LATIN_VARIANT_BLOCKS:
        for code in range(low, high + 1):
            match = _LATIN_VARIANT.fullmatch(unicodedata.name(chr(code), ""))
            if match:
                small = match.group(1) == "SMALL" or match.group(2) == "CAPITAL"
                found[chr(code)] = match.group(3).lower() if small else match.group(3)
    return found


@cache
def fold_table() -> dict[str, str]:
    """Non-ASCII character -> the ASCII letter (else digit) it is confusable with."""
    try:
        raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
        data: dict[str, list[dict[str, str]]] = json.loads(raw)
    except (OSError, ValueError, ModuleNotFoundError) as exc:
        raise ConfigError(f"cannot read the confusables table of {TABLE_PACKAGE}: {exc}") from exc
    table: dict[str, str] = {}
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii():
            continue
        targets = [glyph["c"] for glyph in glyphs if glyph["c"] in _TARGETS]
        letters = [t for t in targets if t.isalpha()]
        same_case = [t for t in letters if t.isupper() == char.isupper()]
        best = same_case or letters or targets
        if best:
            table[char] = sorted(best)[0]
    # Unicode's confusables leave out most of these; their names say which letter they are.
    return {**_latin_variants(), **table}


@cache
def table_id() -> str:
    """The package's version and a digest of the table drawn from it."""
    digest = hashlib.sha256(json.dumps(fold_table(), sort_keys=True).encode()).hexdigest()[:12]
    return f"{TABLE_PACKAGE}-{version(TABLE_PACKAGE)}:{digest}"


#: A mixed word's letters that no table reads are guessed when there are at most this many.
_MOST_GUESSED: Final = 2


#: Scripts whose letters stand in for Latin ones; letters of others are never guessed.
_IMITATING: Final = ("GREEK", "CYRILLIC", "ARMENIAN", "CHEROKEE")


def _hint(ch: str) -> str:
    """The Latin letter a letter's name begins with (KAPPA -> k): preferred among guesses."""
    name = unicodedata.name(ch, "").split(" ")
    return name[-1][:1].lower() if name else ""


def _guess(word: str, most: int = _MOST_GUESSED) -> str:
    """A word of Latin letters with a few Greek, Cyrillic, Armenian or Cherokee ones no table
    reads (``ѕτupid``), read as the known word those letters can make, preferring letters
    their names begin with, then frequent words; else the word as it is."""
    unknown = [i for i, ch in enumerate(word) if ch.isalpha() and not ch.isascii()]
    if not unknown or len(unknown) > most or len(word) < 4:
        return word
    if not all(unicodedata.name(word[i], "").startswith(_IMITATING) for i in unknown):
        return word
    known = lexicon().log_p
    best: tuple[int, float, str] | None = None
    for letters in product(string.ascii_lowercase, repeat=len(unknown)):
        chars = list(word)
        for i, letter in zip(unknown, letters, strict=True):
            chars[i] = letter.upper() if word[i].isupper() else letter
        candidate = "".join(chars)
        found = known.get(candidate.lower())
        if found is None:
            continue
        hinted = sum(letter == _hint(word[i]) for i, letter in zip(unknown, letters, strict=True))
        if best is None or (hinted, found) > best[:2]:
            best = (hinted, found, candidate)
    return best[2] if best else word


def _word_edits(word: str, offset: int, table: dict[str, str]) -> list[Edit]:
    letters = [ch for ch in word if ch.isalpha()]
    if all(ch.isascii() for ch in letters):
        return []
    mixed = any(ch.isascii() for ch in letters)
    all_lookalike = all(ch.isascii() or ch in table for ch in letters)
    folded = "".join(table.get(ch, ch) for ch in word)
    if mixed or all_lookalike:
        read = _guess(folded)
    else:
        # Look-alikes but for one letter (ѕτuріd): read only when that makes a known word.
        read = _guess(folded, most=1)
        if read == folded:
            return []
    return [(offset + i, offset + i + 1, read[i]) for i, ch in enumerate(word) if ch != read[i]]


def fold_confusables(traced: Traced, protected: list[tuple[int, int]] | None = None) -> Traced:
    """Fold the look-alikes of each word that imitates Latin (see the module's docstring)."""
    if traced.text.isascii():
        return traced
    table = fold_table()
    edits: list[Edit] = []
    for match in _WORD.finditer(traced.text):
        if protected and any(s < match.end() and match.start() < e for s, e in protected):
            continue
        edits.extend(_word_edits(match.group(), match.start(), table))
    return traced.rewrite(edits) if edits else traced
