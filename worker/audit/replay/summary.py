"""What a replay produced, counted from the verdicts it wrote, and its summary table.

Example::

    tally = ReplayTally()
    tally.add("verdict", payload)
    console.print(summary_table(tally, seconds=12.5))
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from rich.table import Table

__all__ = ["ReplayTally", "summary_table"]


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "-"


@dataclass
class ReplayTally:
    """Counts over the verdicts and dead letters of one replay."""

    verdicts: int = 0
    flagged: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    bias: Counter[str] = field(default_factory=Counter)
    entailment: Counter[str] = field(default_factory=Counter)
    clip_top: Counter[str] = field(default_factory=Counter)
    settings: set[str] = field(default_factory=set)

    @property
    def posts(self) -> int:
        return self.verdicts + sum(self.dead_letters.values())

    def add(self, kind: str, value: bytes) -> None:
        document = json.loads(value)
        if kind == "dead_letter":
            self.dead_letters[document["error"]["kind"]] += 1
            return
        self.verdicts += 1
        self.flagged += int(document["flagged"])
        self.bias[document["bias"]["label"] or "untrained"] += 1  # v3: no label from random weights
        entailment = document.get("entailment")
        if entailment is not None:
            self.entailment[entailment["label"] or entailment["status"]] += 1
        if document.get("clip") is not None:
            self.clip_top[document["clip"]["top_label"]] += 1
        self.settings.add(str(document["model"].get("settings_sha256")))


def summary_table(tally: ReplayTally, seconds: float, title: str = "Replay summary") -> Table:
    """Posts, verdicts, dead letters, flagged and labels, as a two-column table."""
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("count")
    rate = f" ({tally.posts / seconds:.1f}/s)" if seconds > 0 else ""
    table.add_row("posts", f"{tally.posts} in {seconds:.1f}s{rate}")
    table.add_row("verdicts", str(tally.verdicts))
    dead = sum(tally.dead_letters.values())
    table.add_row("dead letters", f"{dead}" + (f" ({_counts(tally.dead_letters)})" if dead else ""))
    share = f" ({100 * tally.flagged / tally.verdicts:.1f}%)" if tally.verdicts else ""
    table.add_row("flagged", f"{tally.flagged}{share}")
    table.add_row("bias", _counts(tally.bias))
    table.add_row("entailment", _counts(tally.entailment))
    table.add_row("CLIP top label", _counts(tally.clip_top))
    return table
