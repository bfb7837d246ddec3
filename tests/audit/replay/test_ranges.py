"""Ranges by offsets and by time; finding offsets by time by bisection over a fake log."""

from __future__ import annotations

import bisect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.audit.errors import ReplayError
from worker.audit.replay.ranges import (
    Probed,
    RangeRequest,
    ReadAt,
    answer_holds,
    first_offset_at,
    parse_offsets,
    parse_time,
)


class FakePartition:
    """Records at some offsets (gaps allowed), each with a timestamp; counts reads."""

    def __init__(self, records: dict[int, int], high: int | None = None) -> None:
        self.offsets = sorted(records)
        self.timestamps = records
        self.high = high if high is not None else (self.offsets[-1] + 1 if self.offsets else 0)
        self.reads = 0

    async def read_at(self, offset: int) -> Probed | None:
        self.reads += 1
        i = bisect.bisect_left(self.offsets, offset)
        if i == len(self.offsets):
            return None
        found = self.offsets[i]
        return Probed(found, self.timestamps[found])

    def brute_force(self, t_ms: int) -> int:
        """The first record stamped at or after ``t_ms``, by reading everything."""
        return next((o for o in self.offsets if self.timestamps[o] >= t_ms), self.high)

    def same_records_from(self, a: int, b: int) -> bool:
        """Whether reading from offset ``a`` or from ``b`` yields the same records."""
        return [o for o in self.offsets if o >= a] == [o for o in self.offsets if o >= b]


def reader(part: FakePartition) -> ReadAt:
    return part.read_at


def test_offsets_by_partition_and_for_every_partition() -> None:
    assert parse_offsets(["0:100-200", "1:50-", "-300"]) == {0: (100, 200), 1: (50, None), None: (None, 300)}
    assert parse_offsets([]) == {}


@pytest.mark.parametrize("spec", ["0:200-100", "abc", "0:1", "1:2-3:4"])
def test_bad_offset_ranges_are_refused(spec: str) -> None:
    with pytest.raises(ReplayError):
        parse_offsets([spec])


def test_a_partition_given_twice_is_refused() -> None:
    with pytest.raises(ReplayError, match="twice"):
        parse_offsets(["0:1-2", "0:5-6"])


def test_times_need_a_zone() -> None:
    assert parse_time("2026-11-20T00:00:00Z") == 1795132800000
    assert parse_time("2026-11-20T01:00:00+01:00") == 1795132800000
    assert parse_time("1795132800000") == 1795132800000
    with pytest.raises(ReplayError, match="zone"):
        parse_time("2026-11-20T00:00:00")
    with pytest.raises(ReplayError, match="RFC 3339"):
        parse_time("yesterday")


def test_a_request_is_by_offsets_or_by_time_never_both() -> None:
    with pytest.raises(ReplayError, match="not both"):
        RangeRequest(offsets={0: (1, 2)}, from_ms=5)
    with pytest.raises(ReplayError, match="earlier"):
        RangeRequest(from_ms=10, to_ms=10)
    assert RangeRequest(to_ms=3).by_time and not RangeRequest().by_time


async def test_bisection_finds_the_first_record_at_or_after_a_time() -> None:
    part = FakePartition({o: 1000 + 10 * o for o in range(1000)})
    assert await first_offset_at(1000 + 10 * 437, 0, part.high, reader(part)) == 437
    assert await first_offset_at(1000 + 10 * 437 - 5, 0, part.high, reader(part)) == 437
    assert part.reads <= 2 * 11
    assert await first_offset_at(0, 0, part.high, reader(part)) == 0
    assert await first_offset_at(10**9, 0, part.high, reader(part)) == part.high


async def test_equal_timestamps_give_the_first_of_them() -> None:
    part = FakePartition({o: 1000 + (o // 10) for o in range(100)})
    assert await first_offset_at(1005, 0, part.high, reader(part)) == 50


async def test_an_empty_partition_gives_its_end() -> None:
    part = FakePartition({}, high=7)
    assert await first_offset_at(5, 7, 7, reader(part)) == 7


@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(0, 3)), min_size=0, max_size=200),
    st.integers(0, 900),
)
async def test_bisection_agrees_with_reading_everything_despite_gaps(
    steps: list[tuple[int, int]], t_ms: int
) -> None:
    """Offsets with gaps (compaction), timestamps non-decreasing with repeats."""
    records, offset, ts = {}, 3, 0
    for gap, tick in steps:
        records[offset] = ts
        offset, ts = offset + gap, ts + tick
    part = FakePartition(records, high=offset)
    found = await first_offset_at(t_ms, 3, part.high, reader(part))
    assert part.same_records_from(found, part.brute_force(t_ms))


async def test_out_of_order_timestamps_still_give_a_crossing_point() -> None:
    stamps = [0, 10, 20, 15, 30, 25, 40, 50]
    part = FakePartition(dict(enumerate(stamps)))
    found = await first_offset_at(22, 0, part.high, reader(part))
    assert stamps[found] >= 22 and stamps[found - 1] < 22


async def test_a_broker_answer_is_used_only_where_it_checks_out() -> None:
    part = FakePartition({o: 100 * o for o in range(10)})
    assert await answer_holds(4, 350, 0, part.high, reader(part))
    assert not await answer_holds(0, 350, 0, part.high, reader(part))  # what the embedded broker says
    assert not await answer_holds(5, 350, 0, part.high, reader(part))  # too late
    assert await answer_holds(0, 0, 0, part.high, reader(part))
    assert await answer_holds(part.high, 10**6, 0, part.high, reader(part))  # "no record that late"
    assert not await answer_holds(part.high + 3, 350, 0, part.high, reader(part))


async def test_an_answer_next_to_a_gap_cannot_be_checked() -> None:
    part = FakePartition({0: 0, 1: 100, 5: 500, 6: 600})
    assert not await answer_holds(5, 300, 0, part.high, reader(part))
