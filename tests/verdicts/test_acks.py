"""Acks leave in offset order per partition, whatever order work finishes in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.verdicts.acks import InOrderAcker


def test_out_of_order_completion_is_acked_in_order() -> None:
    acked: list[int] = []
    tracker = InOrderAcker()
    tickets = [tracker.register("p0", offset, lambda o=offset: acked.append(o)) for offset in range(4)]
    assert tracker.done(tickets[2]) == 0
    assert tracker.done(tickets[1]) == 0
    assert acked == []
    assert tracker.done(tickets[0]) == 3
    assert acked == [0, 1, 2]
    assert tracker.pending == 1
    tracker.done(tickets[3])
    assert acked == [0, 1, 2, 3]
    assert tracker.pending == 0


def test_partitions_do_not_wait_for_each_other() -> None:
    acked: list[tuple[str, int]] = []
    tracker = InOrderAcker()
    slow = tracker.register("p0", 0, lambda: acked.append(("p0", 0)))
    fast = tracker.register("p1", 0, lambda: acked.append(("p1", 0)))
    tracker.done(fast)
    assert acked == [("p1", 0)]
    tracker.done(slow)
    assert acked == [("p1", 0), ("p0", 0)]


@given(st.permutations(list(range(30))))
def test_any_completion_order_acks_each_record_once_in_order(order: list[int]) -> None:
    acked: list[int] = []
    tracker = InOrderAcker()
    tickets = [tracker.register("p", o, lambda o=o: acked.append(o)) for o in range(30)]
    for index in order:
        tracker.done(tickets[index])
        # Never an ack past an unfinished record.
        assert acked == list(range(len(acked)))
    assert acked == list(range(30))
