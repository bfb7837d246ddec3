"""The startup-heap freeze and the garbage-collector pause recorder."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import generate_latest

from worker.ops.gc import GcPauses, freeze_startup_heap
from worker.ops.metrics import PipelineStats


@pytest.fixture
def recorded() -> Iterator[tuple[GcPauses, list[tuple[int, float]]]]:
    seen: list[tuple[int, float]] = []
    pauses = GcPauses(lambda generation, seconds: seen.append((generation, seconds)))
    yield pauses, seen
    pauses.uninstall()


def test_every_collection_is_reported_with_its_generation(
    recorded: tuple[GcPauses, list[tuple[int, float]]],
) -> None:
    pauses, seen = recorded
    pauses.install()
    gc.collect(1)
    gc.collect()
    generations = [generation for generation, _ in seen]
    assert generations[-2:] == [1, 2]
    assert all(seconds >= 0 for _, seconds in seen)


def test_installing_twice_reports_once_and_uninstalling_stops_reports(
    recorded: tuple[GcPauses, list[tuple[int, float]]],
) -> None:
    pauses, seen = recorded
    pauses.install()
    pauses.install()
    gc.collect()
    assert [g for g, _ in seen].count(2) == 1
    pauses.uninstall()
    seen.clear()
    gc.collect()
    assert seen == []


def test_a_hook_installed_mid_collection_skips_that_collection(
    recorded: tuple[GcPauses, list[tuple[int, float]]],
) -> None:
    pauses, seen = recorded
    pauses._hook("stop", {"generation": 2})  # no "start" seen in this thread
    assert seen == []


def test_freezing_takes_the_startup_heap_out_of_full_collections() -> None:
    survivors = [[n] for n in range(10_000)]  # tracked containers, alive at "startup"
    tracked_before = len(gc.get_objects())
    try:
        frozen = freeze_startup_heap()
        assert frozen >= len(survivors)
        # A full collection only walks what is tracked outside the permanent generation.
        assert len(gc.get_objects()) < tracked_before - len(survivors)
        survivor_ids = {id(s) for s in survivors}
        assert not any(id(obj) in survivor_ids for obj in gc.get_objects())
    finally:
        gc.unfreeze()
    assert len(gc.get_objects()) >= len(survivors)


def test_pauses_become_a_histogram_by_generation() -> None:
    stats = PipelineStats()
    stats.on_gc_pause(2, 0.25)
    stats.on_gc_pause(0, 0.0002)
    stats.on_gc_pause(2, 0.0004)
    body = generate_latest(stats.registry).decode()
    assert 'moderation_gc_pause_seconds_count{generation="2"} 2.0' in body
    assert 'moderation_gc_pause_seconds_bucket{generation="2",le="0.0005"} 1.0' in body
    assert 'moderation_gc_pause_seconds_count{generation="0"} 1.0' in body
    assert stats.gc_pause_s == {2: pytest.approx(0.2504), 0: pytest.approx(0.0002)}
