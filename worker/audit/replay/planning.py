"""Where a requested range becomes offsets per partition, against what the log holds.

The reader (:class:`OffsetReader`, implemented over Kafka by
:class:`worker.audit.replay.kafka.KafkaLog`) says which offsets each partition retains and
what record stands at an offset; everything else here is plain logic.

Example::

    plan = await plan_ranges(log, RangeRequest(from_ms=t0, to_ms=t1))
    plan.total      # records to replay
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from worker.audit.errors import ReplayError
from worker.audit.replay.ranges import PartitionRange, Probed, RangeRequest, answer_holds, first_offset_at

__all__ = ["OffsetReader", "Plan", "plan_ranges"]


class OffsetReader(Protocol):
    """What planning needs to know about one topic."""

    topic: str

    async def partitions(self) -> list[int]:
        """The topic's partitions (ReplayError when the topic does not exist)."""

    async def bounds(self, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        """Retained ``(low, high)`` per partition; ``high`` is the next offset to be written."""

    async def read_at(self, partition: int, offset: int) -> Probed | None:
        """The first record at or after ``offset``, or ``None``."""

    async def broker_offsets_for_time(self, partitions: Sequence[int], t_ms: int) -> dict[int, int | None]:
        """The broker's answer per partition (``None``: no record that late); a
        partition is missing when the broker gave no usable answer."""


@dataclass(frozen=True)
class Plan:
    """The offsets a replay reads, and anything the user should know about them."""

    topic: str
    ranges: list[PartitionRange]
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(r.size for r in self.ranges)


async def plan_ranges(reader: OffsetReader, request: RangeRequest) -> Plan:
    """Offsets ``[start, end)`` per selected partition for ``request``."""
    existing = await reader.partitions()
    selected = _selected(request, existing)
    bounds = await reader.bounds(selected)
    notes: list[str] = []
    ranges = []
    for partition in selected:
        low, high = bounds[partition]
        if request.by_time:
            ranges.append(await _by_time(reader, request, partition, low, high))
        elif request.offsets:
            ranges.append(_by_offsets(request, partition, low, high, notes))
        else:
            ranges.append(PartitionRange(partition, low, high, low, high, "whole log"))
    return Plan(reader.topic, ranges, notes)


def _selected(request: RangeRequest, existing: list[int]) -> list[int]:
    named = [p for p in request.offsets if p is not None]
    if request.partitions is not None:
        wanted = list(request.partitions)
    elif named and None not in request.offsets:
        wanted = named
    else:
        wanted = existing
    unknown = sorted(set(wanted) - set(existing) | set(named) - set(existing))
    if unknown:
        raise ReplayError(f"topic has no partition {unknown} (partitions: {sorted(existing)})")
    return sorted(set(wanted))


def _by_offsets(
    request: RangeRequest, partition: int, low: int, high: int, notes: list[str]
) -> PartitionRange:
    start, end = request.offsets.get(partition, request.offsets.get(None, (None, None)))
    start = low if start is None else start
    end = high if end is None else end
    if start < low:
        notes.append(f"partition {partition}: offsets before {low} are no longer retained; starting at {low}")
    if end > high:
        notes.append(f"partition {partition}: the log ends at {high}; stopping there")
    start = min(max(start, low), high)
    return PartitionRange(partition, start, min(max(end, start), high), low, high, "offsets")


async def _by_time(
    reader: OffsetReader, request: RangeRequest, partition: int, low: int, high: int
) -> PartitionRange:
    hows = []
    start, end = low, high
    if request.from_ms is not None:
        start, how = await _offset_for_time(reader, partition, request.from_ms, low, high)
        hows.append(how)
    if request.to_ms is not None:
        end, how = await _offset_for_time(reader, partition, request.to_ms, start, high)
        hows.append(how)
    how = "bisection" if "bisection" in hows else "broker"
    return PartitionRange(partition, start, max(start, end), low, high, f"time ({how})")


async def _offset_for_time(
    reader: OffsetReader, partition: int, t_ms: int, low: int, high: int
) -> tuple[int, str]:
    async def read_at(offset: int) -> Probed | None:
        return await reader.read_at(partition, offset)

    answers = await reader.broker_offsets_for_time([partition], t_ms)
    if partition in answers:
        answer = answers[partition]
        candidate = high if answer is None else answer
        if await answer_holds(candidate, t_ms, low, high, read_at):
            return candidate, "broker"
    return await first_offset_at(t_ms, low, high, read_at), "bisection"
