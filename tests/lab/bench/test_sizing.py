"""How many timed passes a measurement takes and how long its streams are, with a fake
clock: bounded by time as well as by count, and never a median without its count."""

from __future__ import annotations

import math

import pytest
from moderation_lab.bench.sizing import MIN_SAMPLES, PassBudget, stream_posts, summary, timed_runs


class FakeClock:
    """Each pass advances time by the next of ``durations``."""

    def __init__(self, durations: list[float]) -> None:
        self.now, self.durations = 0.0, list(durations)

    def __call__(self) -> float:
        return self.now

    def run_once(self) -> float:
        took = self.durations.pop(0)
        self.now += took
        return took


def test_a_fast_machine_takes_every_pass_it_may() -> None:
    clock = FakeClock([10.0] * 5)
    runs = timed_runs(PassBudget(max_runs=3, seconds=300), clock.run_once, clock)
    assert runs == [10.0, 10.0, 10.0]


def test_a_slow_machine_stops_before_a_pass_would_overrun_the_time() -> None:
    # 100 s passes in a 240 s budget: a third would end at 300 s, so two are taken.
    clock = FakeClock([100.0] * 5)
    seen: list[tuple[int, float]] = []
    runs = timed_runs(PassBudget(max_runs=3, seconds=240), clock.run_once, clock, lambda *a: seen.append(a))
    assert runs == [100.0, 100.0]
    assert seen == [(1, 100.0), (2, 200.0)]


def test_at_least_the_minimum_even_past_the_time() -> None:
    clock = FakeClock([500.0, 500.0, 500.0])
    assert len(timed_runs(PassBudget(max_runs=3, seconds=60, min_runs=2), clock.run_once, clock)) == 2
    clock = FakeClock([500.0, 500.0])
    assert len(timed_runs(PassBudget(max_runs=3, seconds=60), clock.run_once, clock)) == 1


def test_without_a_time_bound_the_count_decides() -> None:
    clock = FakeClock([1e6] * 4)
    assert len(timed_runs(PassBudget(max_runs=4, seconds=math.inf), clock.run_once, clock)) == 4


def test_a_median_says_how_many_passes_it_rests_on() -> None:
    assert summary([3.0, 1.0, 2.0]) == {"median": 2.0, "runs": 3, "few_samples": False}
    few = summary([4.0, 2.0])
    assert few == {"median": 3.0, "runs": 2, "few_samples": True}
    assert MIN_SAMPLES == 3
    empty = summary([])
    assert math.isnan(empty["median"]) and empty["runs"] == 0 and empty["few_samples"]


@pytest.mark.parametrize(
    ("rate", "posts"),
    [
        (10.0, 192),  # 300 posts in 30 s: capped at the most asked for
        (4.0, 120),  # 120 posts last 30 s
        (2.3, 64),  # 69 posts, rounded down to whole batches of 8
        (0.5, 48),  # a slow CPU still gets the least that makes a figure
        (0.0, 48),  # no rate measured
        (math.inf, 192),
    ],
)
def test_streams_are_sized_to_last_about_the_target(rate: float, posts: int) -> None:
    assert stream_posts(rate, 30.0, lowest=48, highest=192) == posts
