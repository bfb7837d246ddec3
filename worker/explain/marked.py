"""Sentences with the words experts marked, matched to the units explanations score.

The media-bias file (BABE) gives, per sentence, a Python-style list of the words the
experts marked as carrying the bias. Matching, case-insensitive, on the units of
:func:`worker.explain.units.words` (so ``"left-wing"`` and ``don't`` stay whole and the
quotes around ``"gender`` are not part of the word): an entry of several words is
matched as a sequence; every occurrence of a matched entry is marked (an entry found
twice or more is counted); an entry found nowhere is dropped and counted.

Example::

    m = match_marked("The so-called experts, the experts.", ["so-called", "experts", "tyrants"])
    m.gold          # (False, True, True, False, True)
    m.not_found, m.repeated     # 1 ("tyrants"), 1 ("experts")
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from worker.errors import ModelError
from worker.explain.units import words

__all__ = ["Marked", "MarkedRow", "match_marked", "read_marked_csv"]


@dataclass(frozen=True, slots=True)
class Marked:
    """One text's units and which of them the experts marked."""

    text: str
    units: tuple[tuple[int, int], ...]
    gold: tuple[bool, ...]
    entries: int  # entries in the experts' list
    not_found: int  # entries that match no unit sequence of the text
    repeated: int  # entries that match two or more times (all occurrences marked)

    @property
    def marked(self) -> int:
        return sum(self.gold)


@dataclass(frozen=True, slots=True)
class MarkedRow:
    text: str
    label: str
    biased_words: tuple[str, ...]


def match_marked(text: str, entries: Sequence[str]) -> Marked:
    units = words(text)
    lowered = [text[a:b].lower() for a, b in units]
    gold = [False] * len(units)
    not_found = repeated = 0
    for entry in entries:
        wanted = [entry[a:b].lower() for a, b in words(entry)]
        if not wanted:
            not_found += 1
            continue
        hits = [i for i in range(len(units) - len(wanted) + 1) if lowered[i : i + len(wanted)] == wanted]
        not_found += not hits
        repeated += len(hits) > 1
        for i in hits:
            gold[i : i + len(wanted)] = [True] * len(wanted)
    return Marked(text, tuple(units), tuple(gold), len(entries), not_found, repeated)


def read_marked_csv(path: Path) -> list[MarkedRow]:
    """Rows of a CSV with ``text``, ``label`` and ``biased_words`` columns, in file order."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    found = []
    for n, row in enumerate(rows, start=2):
        try:
            listed = ast.literal_eval(row.get("biased_words") or "[]")
            text, label = row["text"], row["label"]
        except (KeyError, ValueError, SyntaxError) as exc:
            raise ModelError(f"{path}:{n}: needs text, label and a list in biased_words ({exc})") from exc
        if not isinstance(listed, list | tuple) or not all(isinstance(w, str) for w in listed):
            raise ModelError(f"{path}:{n}: biased_words is not a list of words")
        found.append(MarkedRow(text, label, tuple(listed)))
    return found
