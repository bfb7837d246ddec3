"""Several partitions merged into one order that does not depend on fetch timing."""

from __future__ import annotations

import random

import pytest

from worker.audit.replay.merge import TimeOrderedMerge

Item = tuple[int, int, int]  # (timestamp, partition, offset)


def merge_of(partitions: list[int]) -> TimeOrderedMerge[Item]:
    return TimeOrderedMerge(partitions, key=lambda item: item)


def test_nothing_is_released_while_an_open_partition_is_empty() -> None:
    merge = merge_of([0, 1])
    merge.push(0, (5, 0, 0))
    assert list(merge.pop_ready()) == []
    assert merge.wanted() == [1]
    merge.push(1, (7, 1, 0))
    assert list(merge.pop_ready()) == [(5, 0, 0)]
    assert merge.wanted() == [0]


def test_closed_partitions_drain_in_order() -> None:
    merge = merge_of([0, 1])
    merge.push(0, (5, 0, 0))
    merge.push(1, (3, 1, 0))
    merge.push(1, (9, 1, 1))
    merge.close(0)
    merge.close(1)
    assert list(merge.pop_ready()) == [(3, 1, 0), (5, 0, 0), (9, 1, 1)]
    assert merge.done


def test_equal_timestamps_are_ordered_by_partition_then_offset() -> None:
    merge = merge_of([0, 1])
    for item in [(1, 1, 0), (1, 1, 1)]:
        merge.push(1, item)
    merge.push(0, (1, 0, 4))
    merge.close(0)
    merge.close(1)
    assert list(merge.pop_ready()) == [(1, 0, 4), (1, 1, 0), (1, 1, 1)]


def test_a_closed_partition_takes_no_more() -> None:
    merge = merge_of([0])
    merge.close(0)
    with pytest.raises(ValueError):
        merge.push(0, (1, 0, 0))


@pytest.mark.parametrize("seed", range(5))
def test_the_order_is_the_same_whatever_the_fetch_sizes(seed: int) -> None:
    rng = random.Random(seed)
    streams = {p: [(rng.randrange(100), p, o) for o in range(30)] for p in range(3)}
    for stream in streams.values():
        stream.sort(key=lambda item: item[0])  # roughly time-ordered per partition

    def run(chunk: int) -> list[Item]:
        merge, out = merge_of(list(streams)), []
        cursors = dict.fromkeys(streams, 0)
        while not merge.done:
            out.extend(merge.pop_ready())
            for p in merge.wanted():
                batch = streams[p][cursors[p] : cursors[p] + chunk]
                cursors[p] += len(batch)
                for item in batch:
                    merge.push(p, item)
                if cursors[p] == len(streams[p]):
                    merge.close(p)
        return out

    assert run(1) == run(7) == run(100)
    assert len(run(3)) == 90
