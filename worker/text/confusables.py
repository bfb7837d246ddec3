"""Look-alike letters of other scripts folded to the Latin letters they imitate.

The table is Unicode's confusables data (UTS #39) as shipped by the
``confusable-homoglyphs`` package: every single character it lists as confusable
with an ASCII letter or digit maps to that character (Cyrillic ``а`` -> ``a``, Greek
``ο`` -> ``o``, Cherokee ``Ꭺ`` -> ``A``); beside it, the Latin letters with hooks,
bars and tails and the small capitals, by their Unicode names (``ʂ`` -> ``s``).
Real words of other scripts are left alone: a word's look-alikes are folded only when
the word also holds ASCII letters (a mixed word, ``hаte`` with a Cyrillic ``а``) or
when every letter in it has a Latin look-alike (``һаtе`` written wholly in look-alikes).
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
from typing import Final

from worker.errors import ConfigError
from worker.text.offsets import Edit, Traced

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


def _word_edits(word: str, offset: int, table: dict[str, str]) -> list[Edit]:
    foldable = [i for i, ch in enumerate(word) if ch in table]
    if not foldable:
        return []
    letters = [ch for ch in word if ch.isalpha()]
    mixed = any(ch.isascii() for ch in letters)
    all_lookalike = all(ch.isascii() or ch in table for ch in letters)
    if not (mixed or all_lookalike):
        return []
    return [(offset + i, offset + i + 1, table[word[i]]) for i in foldable]


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
