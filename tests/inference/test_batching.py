"""The micro-batching policy, driven by a fake clock."""

from __future__ import annotations

import pytest

from worker.inference.batching import BatchBuilder, BatchPolicy


def builder(max_batch: int = 4, max_wait_s: float = 0.05, max_tokens: int = 1000) -> BatchBuilder[str]:
    return BatchBuilder(BatchPolicy(max_batch, max_wait_s, max_tokens))


def test_empty_builder_is_never_ready() -> None:
    b = builder()
    assert not b.ready(now=1e9)
    assert b.deadline() == float("inf")
    assert b.take() == []


def test_waits_until_the_oldest_item_times_out() -> None:
    b = builder(max_wait_s=0.05)
    b.add("a", tokens=10, now=10.0)
    b.add("b", tokens=10, now=10.04)
    assert not b.ready(now=10.049)
    assert b.deadline() == pytest.approx(10.05)
    assert b.ready(now=10.05)
    assert b.take() == ["a", "b"]
    assert len(b) == 0


def test_cuts_a_full_batch_at_once_and_keeps_the_rest() -> None:
    b = builder(max_batch=3)
    for i, name in enumerate("abcde"):
        b.add(name, tokens=5, now=float(i) * 0.001)
    assert b.ready(now=0.005)  # long before the deadline
    assert b.take() == ["a", "b", "c"]
    assert not b.ready(now=0.005)  # d, e: not full, not timed out
    assert b.take() == ["d", "e"]


def test_token_budget_counts_padding_to_the_longest_text() -> None:
    # 3 x 100 = 300 fits, adding a 200-token text makes 4 x 200 = 800 > 500.
    b = builder(max_batch=16, max_tokens=500)
    for name in "abc":
        b.add(name, tokens=100, now=0.0)
    b.add("long", tokens=200, now=0.0)
    assert b.ready(now=0.0)
    assert b.take() == ["a", "b", "c"]
    assert b.take() == ["long"]


def test_an_item_over_the_budget_still_runs_alone() -> None:
    b = builder(max_tokens=50)
    b.add("huge", tokens=400, now=0.0)
    b.add("small", tokens=5, now=0.0)
    assert b.ready(now=0.0)
    assert b.take() == ["huge"]
    assert b.take() == ["small"]


def test_zero_wait_runs_every_item_immediately() -> None:
    b = builder(max_wait_s=0.0)
    b.add("a", tokens=1, now=5.0)
    assert b.ready(now=5.0)


@pytest.mark.parametrize("args", [(0, 0.1, 10), (1, -1.0, 10), (1, 0.1, 0)])
def test_invalid_policies_are_refused(args: tuple[int, float, int]) -> None:
    with pytest.raises(ValueError):
        BatchPolicy(*args)
