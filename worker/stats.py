"""Counters of one pipeline, read by the CLI, the demo and the tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["PipelineStats"]


@dataclass
class PipelineStats:
    consumed: int = 0
    verdicts: int = 0
    flagged: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    compute_s: float = 0.0

    def summary(self) -> str:
        dead = sum(self.dead_letters.values())
        return (
            f"consumed={self.consumed} verdicts={self.verdicts} flagged={self.flagged} "
            f"dead_letters={dead} batches={self.batches}"
        )

    def record_batch(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.batch_sizes[size] += 1
        self.compute_s += seconds
