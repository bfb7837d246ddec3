"""Look-alike letters of other scripts folded to the Latin letters they imitate.

The table is Unicode's confusables data (UTS #39) as shipped by the
``confusable-homoglyphs`` package: every single character it lists as confusable
with an ASCII letter or digit maps to that character (Cyrillic ``а`` -> ``a``, Greek
``ο`` -> ``o``, Cherokee ``Ꭺ`` -> ``A``); beside it, the Latin letters with hooks,
bars and tails and the small capitals, by their Unicode names (``ʂ`` -> ``s``).
Real words of other scripts are left alone: a word's look-alikes are folded only when
the word also holds ASCII letters (a mixed word, ``hаte`` with a Cyrillic ``а``) or
when every letter in it has a Latin look-alike (``һаtе`` written wholly in look-alikes).
Such a word is read as the most probable English word (SymSpell's word counts) its
look-alikes can make (:func:`reading_table`): each as any ASCII letter the confusables
data links it to, followed through linked characters and their other case (``ƅ`` ~
``ь`` ~ ``Ь`` ~ ``b``; the palochka ``ӏ`` ~ ``i`` ~ ``I`` ~ ``l``), a letter read as the
table reads it weighing as a word twenty times as frequent; up to two Greek, Cyrillic,
Armenian or Cherokee letters that no table reads (``τ``, ``є``) as any letter, preferring
those their names spell; a Latin letter with a bar or hook (``ƚ``, a barred l, often a
t) also as another letter where that makes a more probable word (``geƚ``: get, not gel).
A word no reading makes a word of is folded by the table.
A Russian or Greek word almost always holds more than one letter with no Latin twin in
the table, and stays as written; so do Latin letters of other languages (``ß``).

Example::

    fold_confusables(Traced.of("ѕһіt")).text     # 'shit'
"""

from __future__ import annotations

import hashlib
import json
import math
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

__all__ = ["TABLE_PACKAGE", "fold_confusables", "fold_table", "reading_table", "table_id"]

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
    tables = [fold_table(), reading_table()]
    digest = hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:12]
    return f"{TABLE_PACKAGE}-{version(TABLE_PACKAGE)}:{digest}"


def _own_letter(char: str) -> bool:
    """A letter of a European language written in Latin (ß, æ, ð, ø): never read as another."""
    code = ord(char)
    return unicodedata.name(char, "").startswith("LATIN") and not any(
        low <= code <= high for low, high in _LATIN_VARIANT_BLOCKS
    )


@cache
def reading_table() -> dict[str, str]:
    """Non-ASCII letter -> every ASCII letter (lower case) a reader may take it for.

    Drawn from the same confusables data, followed through the characters it lists as
    confusable with each other (``ƅ`` -> ``ь`` -> ``b``) and with combining marks set
    aside (``ƚ`` -> ``l̵`` -> ``l``), beside the letter a Latin variant's name gives.
    """
    try:
        raw = resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8")
        data: dict[str, list[dict[str, str]]] = json.loads(raw)
    except (OSError, ValueError, ModuleNotFoundError) as exc:
        raise ConfigError(f"cannot read the confusables table of {TABLE_PACKAGE}: {exc}") from exc

    def base(glyph: str) -> str:
        return "".join(ch for ch in glyph if not unicodedata.combining(ch))

    links: dict[str, set[str]] = {}
    for char, glyphs in data.items():
        for glyph in (base(g["c"]) for g in glyphs):
            if len(char) == 1 and len(glyph) == 1 and glyph != char:
                links.setdefault(char, set()).add(glyph)
                links.setdefault(glyph, set()).add(char)
    found: dict[str, str] = {}
    for char in links:
        if char.isascii() or not char.isalpha() or _own_letter(char):
            continue
        letters: set[str] = set()
        seen, frontier = {char}, [char]
        for _ in range(_CLOSURE_STEPS):
            step = []
            for glyph in frontier:
                # Linked by the data, or the other case of a linked letter (ƅ ~ ь, Ь ~ b).
                for near in sorted(links.get(glyph, set()) | {glyph.upper(), glyph.lower()}):
                    if near in seen or len(near) != 1:
                        continue
                    seen.add(near)
                    if near.isascii():
                        if near.isalpha():
                            letters.add(near.lower())
                    else:
                        step.append(near)
            frontier = step
            if letters:  # the nearest letters only
                break
        # and the letters those are confusable with, in either case (i ~ I ~ l)
        for letter in list(letters):
            for near in links.get(letter, set()) | links.get(letter.upper(), set()):
                if near.isascii() and near.isalpha():
                    letters.add(near.lower())
        if letters:
            found[char] = "".join(sorted(letters))
    for char, letter in _latin_variants().items():
        found[char] = "".join(sorted(set(found.get(char, "")) | {letter.lower()}))
    return found


#: How far the confusables data is followed from a letter to the ASCII letters it imitates.
_CLOSURE_STEPS: Final = 3
#: A mixed word's letters that no table reads are guessed when there are at most this many.
_MOST_GUESSED: Final = 2
#: A letter read as its usual reading weighs as much as a word this many times as frequent
#: (log): ``geƚ`` is ``get`` (far more frequent), not ``gel``.
_USUAL_BONUS: Final = math.log(20.0)
#: Readings tried for one word at most (products of each letter's possible readings).
_MOST_READINGS: Final = 4096

#: Scripts whose letters stand in for Latin ones; letters of others are never guessed.
_IMITATING: Final = ("GREEK", "CYRILLIC", "ARMENIAN", "CHEROKEE")


def _hint(ch: str) -> str:
    """The Latin letters a letter's name spells, when short (UKRAINIAN IE -> ie), else the
    one it begins with (KAPPA -> k): preferred among guesses."""
    name = unicodedata.name(ch, "").split(" ")
    last = name[-1].lower() if name else ""
    return last if len(last) <= 2 else last[:1]


def _best_known(word: str, options: list[tuple[int, str]], defaults: dict[int, str]) -> str | None:
    """The known word made by reading each position of ``options`` as one of its letters,
    the most probable by its frequency, each letter read as the table reads it counting
    as :data:`_USUAL_BONUS`."""
    size = 1
    for _, letters in options:
        size *= len(letters)
    if size > _MOST_READINGS:
        return None
    known = lexicon().log_p
    best: tuple[float, float, str] | None = None
    for combo in product(*(letters for _, letters in options)):
        chars = list(word)
        for (i, _), letter in zip(options, combo, strict=True):
            chars[i] = letter.upper() if word[i].isupper() else letter
        candidate = "".join(chars)
        found = known.get(candidate.lower())
        if found is None:
            continue
        usual = sum(letter in defaults.get(i, "") for (i, _), letter in zip(options, combo, strict=True))
        score = found + _USUAL_BONUS * usual
        if best is None or score > best[0]:
            best = (score, found, candidate)
    return best[2] if best else None


def _score(read: str, defaults: dict[int, str]) -> float:
    usual = sum(read[i].lower() in letters for i, letters in defaults.items())
    return lexicon().log_p.get(read.lower(), -math.inf) + _USUAL_BONUS * usual


def _guess(word: str, most: int = _MOST_GUESSED) -> str:
    """A word of Latin letters and look-alikes, read as the known word its look-alikes can
    make: each read as any of the letters the confusables data links it to (``ƅ``: b),
    a letter that no table reads (or, failing that, one that the table reads otherwise,
    ``ƚ`` for t) as any letter; else the word as the table folds it."""
    table, readings = fold_table(), reading_table()
    at = [i for i, ch in enumerate(word) if ch.isalpha() and not ch.isascii()]
    folded = "".join(table.get(ch, ch) for ch in word)
    if not at or len(word) < 2:
        return folded
    if not all(word[i] in readings or unicodedata.name(word[i], "").startswith(_IMITATING) for i in at):
        return folded
    defaults = {
        i: (table.get(word[i]) or readings.get(word[i], "")[:1] or _hint(word[i])).lower() for i in at
    }
    listed = [(i, readings.get(word[i], "") or string.ascii_lowercase) for i in at]
    free = [i for i in at if word[i] not in readings]
    if len(free) > most:
        return folded
    read = _best_known(word, listed, defaults)
    if len(free) < most and len(word) >= 3:
        # One look-alike read as a letter the data does not link it to: where no linked
        # reading makes a word (ϲ, folded to ς, is linked to o), or, for a Latin letter
        # with a bar or hook (ƚ, a barred l, is often a t), where that makes a more
        # probable word.
        for i in at:
            name = unicodedata.name(word[i], "")
            barred = name.startswith("LATIN") and " WITH " in name
            if i in free or not (barred or (read is None and len(word) >= 4)):
                continue
            opened = [(j, string.ascii_lowercase if j == i else letters) for j, letters in listed]
            other = _best_known(word, opened, defaults)
            if other is not None and (read is None or _score(other, defaults) > _score(read, defaults)):
                read = other
    if read is None:
        return folded
    return "".join(table.get(ch, ch) if ch == r else r for ch, r in zip(word, read, strict=True))


def _word_edits(word: str, offset: int, table: dict[str, str]) -> list[Edit]:
    letters = [ch for ch in word if ch.isalpha()]
    if all(ch.isascii() for ch in letters):
        return []
    mixed = any(ch.isascii() for ch in letters)
    all_lookalike = all(ch.isascii() or ch in table for ch in letters)
    folded = "".join(table.get(ch, ch) for ch in word)
    if mixed or all_lookalike:
        read = _guess(word)
    else:
        # Look-alikes but for one letter (ѕτuріd): read only when that makes a known word
        # (a Russian or Greek word has more letters than that which the table does not read).
        if len(word) < 4 or sum(ch not in table for ch in letters) > 1:
            return []
        read = _guess(word, most=1)
        if read == folded or not read.isascii():
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
