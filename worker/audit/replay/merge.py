"""One deterministic order over several partitions: by timestamp, then partition, then offset.

The live worker sees posts in roughly the order they were written, across partitions;
a replay hands them to the pipeline in that order too, and always the same order for
the same range, so a reply finds the post it replies to exactly as often on every
replay. A record is released only when every partition that may still deliver an
earlier one has a record waiting, so the order does not depend on fetch timing.
Pure: no Kafka.

Example::

    merge = TimeOrderedMerge([0, 1], key=lambda r: (r.timestamp_ms, r.partition, r.offset))
    merge.push(0, record)          # as fetched
    merge.close(1)                 # partition 1 has nothing more in range
    for record in merge.pop_ready():
        ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["TimeOrderedMerge"]

T = TypeVar("T")


class TimeOrderedMerge(Generic[T]):
    """Merges per-partition streams (each in offset order) into one ordered stream."""

    def __init__(self, partitions: Iterable[int], key: Callable[[T], Any]) -> None:
        self._key = key
        self._buffers: dict[int, deque[T]] = {p: deque() for p in partitions}
        self._open = set(self._buffers)

    def push(self, partition: int, item: T) -> None:
        if partition not in self._open:
            raise ValueError(f"partition {partition} is closed or unknown")
        self._buffers[partition].append(item)

    def close(self, partition: int) -> None:
        """Nothing more will come from ``partition``."""
        self._open.discard(partition)

    def buffered(self, partition: int) -> int:
        return len(self._buffers[partition])

    def wanted(self) -> list[int]:
        """Open partitions with nothing buffered: what must be fetched before more is released."""
        return sorted(p for p in self._open if not self._buffers[p])

    @property
    def done(self) -> bool:
        return not self._open and not any(self._buffers.values())

    def pop_ready(self) -> Iterator[T]:
        """Release items, smallest key first, while no open partition is empty."""
        while not self.wanted():
            heads = [(self._key(buffer[0]), p) for p, buffer in self._buffers.items() if buffer]
            if not heads:
                return
            _, partition = min(heads)
            yield self._buffers[partition].popleft()
