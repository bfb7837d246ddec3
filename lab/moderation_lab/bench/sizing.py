"""How many timed passes a measurement takes, and how long its streams are: bounded by
time as well as by count, so that a slower or busier CPU still ends in reasonable time,
and every figure says from how many passes it came.

Pure policy, no torch and no clock of its own (the clock is passed in), so it is tested
with a fake clock.

Example::

    budget = PassBudget(max_runs=3, seconds=240)
    runs = timed_runs(budget, lambda: one_pass(), time.monotonic)
    figure = summary(runs)   # {"median": ..., "runs": 2, "few_samples": True, ...}
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["MIN_SAMPLES", "PassBudget", "stream_posts", "summary", "timed_runs"]

T = TypeVar("T")

#: Below this many passes a median is reported as indicative (``few_samples``).
MIN_SAMPLES = 3


@dataclass(frozen=True)
class PassBudget:
    """At least ``min_runs`` passes, at most ``max_runs``, and no pass started that
    would, at the mean pass time so far, end after ``seconds``."""

    max_runs: int = 3
    seconds: float = 300.0
    min_runs: int = 1

    def another(self, done: int, elapsed_s: float) -> bool:
        """Whether to start pass number ``done + 1``, ``elapsed_s`` after the first began."""
        if done < self.min_runs:
            return True
        if done >= self.max_runs:
            return False
        mean = elapsed_s / done
        return elapsed_s + mean <= self.seconds

    def describe(self) -> str:
        return f"up to {self.max_runs} passes within ~{self.seconds:.0f} s"


def timed_runs(
    budget: PassBudget,
    run_once: Callable[[], T],
    clock: Callable[[], float],
    on_pass: Callable[[int, float], None] | None = None,
) -> list[T]:
    """The results of as many passes of ``run_once`` as ``budget`` allows; ``on_pass``
    hears (passes done, seconds elapsed) after each."""
    started = clock()
    out: list[T] = []
    while budget.another(len(out), clock() - started):
        out.append(run_once())
        if on_pass is not None:
            on_pass(len(out), clock() - started)
    return out


def summary(runs: Sequence[float]) -> dict[str, Any]:
    """The median of ``runs`` with how many passes it rests on, flagged when fewer than
    :data:`MIN_SAMPLES` (``nan`` for none)."""
    return {
        "median": statistics.median(runs) if runs else float("nan"),
        "runs": len(runs),
        "few_samples": len(runs) < MIN_SAMPLES,
    }


def stream_posts(forward_posts_per_s: float, target_s: float, lowest: int = 48, highest: int = 192) -> int:
    """Posts per end-to-end stream so that one lasts about ``target_s`` at the measured
    forward rate, within [lowest, highest], in whole batches of 8 (the worker's batch
    shapes stay the same whatever the size)."""
    wanted = forward_posts_per_s * target_s if forward_posts_per_s > 0 else lowest
    clamped = min(highest, max(lowest, wanted))
    return max(8, int(clamped) // 8 * 8)
