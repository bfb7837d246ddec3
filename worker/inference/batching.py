"""The micro-batching policy: when to cut a batch. Pure: no torch, no Kafka, no asyncio.

A batch is cut when it holds ``max_batch`` items, when adding the next item would
push its padded token cost (items x longest item, the cost of padding to the
longest text) over ``max_tokens``, or when its oldest item has waited ``max_wait_s``.

Example::

    builder = BatchBuilder(BatchPolicy(max_batch=16, max_wait_s=0.05, max_tokens=4096))
    builder.add("post-1", tokens=42, now=clock())
    if builder.ready(clock()):
        batch = builder.take()
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["BatchBuilder", "BatchPolicy"]

T = TypeVar("T")


@dataclass(frozen=True)
class BatchPolicy:
    """Limits of one batch."""

    max_batch: int
    max_wait_s: float
    max_tokens: int

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_tokens < 1 or self.max_wait_s < 0:
            raise ValueError(f"invalid batch policy {self!r}")


@dataclass(frozen=True)
class _Pending(Generic[T]):
    item: T
    tokens: int
    arrived: float


class BatchBuilder(Generic[T]):
    """Collects items and says when, and which, to run as one batch."""

    def __init__(self, policy: BatchPolicy) -> None:
        self.policy = policy
        self._pending: deque[_Pending[T]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, item: T, tokens: int, now: float) -> None:
        self._pending.append(_Pending(item, max(1, tokens), now))

    def _fits(self) -> int:
        """How many of the oldest items fit in one batch."""
        count, longest = 0, 0
        for pending in self._pending:
            longest_after = max(longest, pending.tokens)
            over_budget = (count + 1) * longest_after > self.policy.max_tokens
            if count == self.policy.max_batch or (count > 0 and over_budget):
                break
            count, longest = count + 1, longest_after
        return count

    def ready(self, now: float) -> bool:
        """True when a batch should run now."""
        if not self._pending:
            return False
        if self._fits() < len(self._pending):
            return True  # the next item would not fit: the batch is full
        return self.deadline() <= now

    def deadline(self) -> float:
        """When the oldest item's wait runs out (``inf`` when empty)."""
        if not self._pending:
            return float("inf")
        return self._pending[0].arrived + self.policy.max_wait_s

    def take(self) -> list[T]:
        """Remove and return the oldest items that fit in one batch."""
        return [self._pending.popleft().item for _ in range(self._fits())]
