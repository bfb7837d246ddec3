"""A requested range becomes offsets per partition, against an in-memory log."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.audit.replay.test_ranges import FakePartition
from worker.audit.errors import ReplayError
from worker.audit.replay.planning import plan_ranges
from worker.audit.replay.ranges import Probed, RangeRequest

MINUTE = 60_000


class FakeLog:
    """Partitions with retained ``[low, high)`` and a broker that answers ``answer``."""

    topic = "posts"

    def __init__(self, partitions: dict[int, FakePartition], low: int = 0, answer: str = "wrong") -> None:
        self.parts, self.low, self.answer = partitions, low, answer

    async def partitions(self) -> list[int]:
        return sorted(self.parts)

    async def bounds(self, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        return {p: (min(self.low, self.parts[p].high), self.parts[p].high) for p in partitions}

    async def read_at(self, partition: int, offset: int) -> Probed | None:
        return await self.parts[partition].read_at(offset)

    async def broker_offsets_for_time(self, partitions: Sequence[int], t_ms: int) -> dict[int, int | None]:
        if self.answer == "none":
            return {}
        if self.answer == "wrong":
            return dict.fromkeys(partitions, 0)  # what the embedded broker says
        found = {p: self.parts[p].brute_force(t_ms) for p in partitions}
        return {p: (None if o == self.parts[p].high else o) for p, o in found.items()}


def minutes(n: int, every: int = 1, start: int = 0) -> FakePartition:
    return FakePartition({o: (start + o * every) * MINUTE for o in range(n)})


def log(answer: str = "wrong", low: int = 0) -> FakeLog:
    return FakeLog({0: minutes(60), 1: minutes(30, every=2), 2: FakePartition({})}, low=low, answer=answer)


@pytest.mark.parametrize("answer", ["wrong", "none", "right"])
async def test_by_time_whatever_the_broker_answers(answer: str) -> None:
    plan = await plan_ranges(log(answer), RangeRequest(from_ms=10 * MINUTE, to_ms=20 * MINUTE))
    spans = {r.partition: (r.start, r.end) for r in plan.ranges}
    assert spans == {0: (10, 20), 1: (5, 10), 2: (0, 0)}
    assert plan.total == 15
    hows = {r.partition: r.how for r in plan.ranges}
    assert hows[0] == ("time (broker)" if answer == "right" else "time (bisection)")


async def test_open_ended_times() -> None:
    plan = await plan_ranges(log(), RangeRequest(from_ms=50 * MINUTE))
    assert [(r.start, r.end) for r in plan.ranges] == [(50, 60), (25, 30), (0, 0)]
    plan = await plan_ranges(log(), RangeRequest(to_ms=4 * MINUTE))
    assert [(r.start, r.end) for r in plan.ranges] == [(0, 4), (0, 2), (0, 0)]


async def test_whole_log_is_what_is_retained() -> None:
    plan = await plan_ranges(log(low=5), RangeRequest())
    assert [(r.start, r.end, r.how) for r in plan.ranges][:2] == [(5, 60, "whole log"), (5, 30, "whole log")]


async def test_offsets_name_the_partitions_to_read() -> None:
    plan = await plan_ranges(log(), RangeRequest(offsets={1: (3, 9)}))
    assert [(r.partition, r.start, r.end) for r in plan.ranges] == [(1, 3, 9)]
    plan = await plan_ranges(log(), RangeRequest(offsets={None: (2, 4), 0: (10, None)}))
    assert [(r.partition, r.start, r.end) for r in plan.ranges] == [(0, 10, 60), (1, 2, 4), (2, 0, 0)]


async def test_offsets_outside_the_log_are_clamped_and_said() -> None:
    plan = await plan_ranges(log(low=5), RangeRequest(offsets={0: (0, 100)}))
    [r] = plan.ranges
    assert (r.start, r.end) == (5, 60)
    assert any("no longer retained" in note for note in plan.notes)
    assert any("ends at 60" in note for note in plan.notes)


async def test_partitions_can_be_chosen_and_must_exist() -> None:
    plan = await plan_ranges(log(), RangeRequest(partitions=(1,), from_ms=0))
    assert [r.partition for r in plan.ranges] == [1]
    with pytest.raises(ReplayError, match="no partition"):
        await plan_ranges(log(), RangeRequest(partitions=(7,)))
    with pytest.raises(ReplayError, match="no partition"):
        await plan_ranges(log(), RangeRequest(offsets={9: (0, 1)}))
