"""What a replay covers, per partition, and how offsets are found by time. Pure: no Kafka.

A range is ``[start, end)`` in offsets, per partition: by offsets (``--offsets
0:100-200``), by time (``--from`` / ``--to``), or the whole retained log.

By time, ``start`` is the first offset whose record's timestamp is at or after
``--from``, and ``end`` the first at or after ``--to``. Kafka answers that itself
(ListOffsets by timestamp), but not every broker answers it correctly (the embedded
test broker always says 0), so the broker's answer is used only when it checks out
(:func:`answer_holds`) and otherwise found by bisection over seek-and-fetch
(:func:`first_offset_at`), which assumes timestamps roughly non-decreasing within a
partition, as Kafka's own time index does.

Example::

    request = RangeRequest(from_ms=parse_time("2026-11-20T00:00:00Z"))
    start = await first_offset_at(request.from_ms, low, high, read_at)
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from worker.audit.errors import ReplayError

__all__ = [
    "PartitionRange",
    "Probed",
    "RangeRequest",
    "ReadAt",
    "answer_holds",
    "first_offset_at",
    "parse_offsets",
    "parse_time",
]


@dataclass(frozen=True)
class Probed:
    """The first record at or after an offset: its offset and timestamp (ms)."""

    offset: int
    timestamp_ms: int


#: ``read_at(offset)``: the first record at or after ``offset``, ``None`` when there is none.
ReadAt = Callable[[int], Awaitable[Probed | None]]

#: partition (``None``: every partition) -> (start or ``None``, end or ``None``)
OffsetSpec = dict[int | None, tuple[int | None, int | None]]


@dataclass(frozen=True)
class RangeRequest:
    """The range a user asked for; nothing given means the whole retained log."""

    partitions: tuple[int, ...] | None = None
    offsets: OffsetSpec = field(default_factory=dict)
    from_ms: int | None = None
    to_ms: int | None = None

    def __post_init__(self) -> None:
        by_time = self.from_ms is not None or self.to_ms is not None
        if by_time and self.offsets:
            raise ReplayError("give a range by offsets or by time, not both")
        if self.from_ms is not None and self.to_ms is not None and self.from_ms >= self.to_ms:
            raise ReplayError("--from must be earlier than --to")

    @property
    def by_time(self) -> bool:
        return self.from_ms is not None or self.to_ms is not None


@dataclass(frozen=True)
class PartitionRange:
    """Offsets ``[start, end)`` of one partition, within its retained ``[low, high)``."""

    partition: int
    start: int
    end: int
    low: int
    high: int
    how: str = "offsets"

    @property
    def size(self) -> int:
        """Records in the range (an upper bound where offsets have gaps)."""
        return max(0, self.end - self.start)


_OFFSETS = re.compile(r"^(?:(?P<partition>\d+):)?(?P<start>\d*)-(?P<end>\d*)$")


def parse_offsets(specs: list[str]) -> OffsetSpec:
    """``["0:100-200", "1:50-", "-300"]`` -> ``{0: (100, 200), 1: (50, None), None: (None, 300)}``.

    ``P:START-END`` for partition P, ``START-END`` for every partition; END is exclusive
    and either bound may be left out.
    """
    result: OffsetSpec = {}
    for spec in specs:
        match = _OFFSETS.match(spec.strip())
        if match is None:
            raise ReplayError(f"bad offset range {spec!r}: expected [PARTITION:]START-END, e.g. 0:100-200")
        partition = int(match["partition"]) if match["partition"] else None
        start = int(match["start"]) if match["start"] else None
        end = int(match["end"]) if match["end"] else None
        if start is not None and end is not None and start > end:
            raise ReplayError(f"bad offset range {spec!r}: start is after end")
        if partition in result:
            raise ReplayError(f"partition {partition if partition is not None else '*'} given twice")
        result[partition] = (start, end)
    return result


def parse_time(text: str) -> int:
    """RFC 3339 with a zone (``2026-11-20T00:00:00Z``) or epoch milliseconds -> epoch ms."""
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ReplayError(f"bad time {text!r}: expected RFC 3339, e.g. 2026-11-20T00:00:00Z") from exc
    if moment.tzinfo is None:
        raise ReplayError(f"time {text!r} has no zone: add Z or an offset such as +01:00")
    return int(moment.timestamp() * 1000)


async def first_offset_at(t_ms: int, low: int, high: int, read_at: ReadAt) -> int:
    """The first offset in ``[low, high)`` whose record is stamped at or after ``t_ms``
    (``high`` when there is none), by bisection: O(log(high - low)) reads.

    Gaps in the offsets (compaction, transaction markers) are fine: ``read_at`` returns
    the next record that exists. With timestamps out of order, the answer is an offset
    where they cross ``t_ms``: stamped at or after it, its predecessor before it.
    """
    lo, hi = low, high
    while lo < hi:
        mid = (lo + hi) // 2
        found = await read_at(mid)
        if found is None or found.offset >= hi:
            hi = mid  # no record in [mid, hi)
        elif found.timestamp_ms >= t_ms:
            hi = found.offset
        else:
            lo = found.offset + 1
    return lo


async def answer_holds(answer: int, t_ms: int, low: int, high: int, read_at: ReadAt) -> bool:
    """Whether a broker's "first offset at or after ``t_ms``" is right where it stands:
    the record at ``answer`` is stamped at or after ``t_ms`` and the one before it
    earlier. An answer that cannot be checked (a gap next to it) does not hold."""
    if not low <= answer <= high:
        return False
    if answer < high:
        here = await read_at(answer)
        if here is None or here.offset != answer or here.timestamp_ms < t_ms:
            return False
    if answer == low:
        return True
    before = await read_at(answer - 1)
    return before is not None and before.offset == answer - 1 and before.timestamp_ms < t_ms
