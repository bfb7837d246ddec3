"""Readiness: the monitor publishes the broker's and the cache's states together."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, NamedTuple

from worker.errors import CacheError
from worker.ops.health import Health, Monitor
from worker.ops.metrics import PipelineStats


class TP(NamedTuple):
    """What the consumer's assignment holds (faust's TP has these two fields)."""

    topic: str
    partition: int


class SlowCache:
    """A Redis whose PING answers only when told to (or fails)."""

    def __init__(self, fail: bool = False) -> None:
        self.answer = asyncio.Event()
        self.fail = fail

    async def ping(self) -> None:
        await self.answer.wait()
        if self.fail:
            raise CacheError("PING failed: connection refused")


def fake_app(highwaters: dict[Any, int | None] | None = None, broker_up: bool = True) -> Any:
    """A faust app whose consumer holds ``highwaters`` (TopicPartition -> high-water mark)."""

    async def metadata() -> None:
        if not broker_up:
            raise ConnectionError("broker down")

    client = SimpleNamespace(fetch_all_metadata=metadata)
    producer = SimpleNamespace(_ensure_producer=lambda: SimpleNamespace(client=client))
    marks = highwaters or {}
    consumer = SimpleNamespace(assignment=lambda: set(marks), highwater=marks.__getitem__)
    return SimpleNamespace(producer=producer, consumer=consumer)


def fake_pipeline(last_acked: dict[tuple[str, int], int] | None = None) -> Any:
    done = last_acked or {}
    return SimpleNamespace(stats=PipelineStats(), last_acked=lambda t, p: done.get((t, p)))


def gauge(pipeline: Any, name: str, **labels: str) -> float | None:
    value: float | None = pipeline.stats.registry.get_sample_value(name, labels)
    return value


async def test_ready_is_never_shown_beside_an_unchecked_cache() -> None:
    health = Health(models_loaded=True, pipeline_started=True)
    cache = SlowCache()
    pipeline = fake_pipeline()
    monitor = Monitor(fake_app(), pipeline, cache, health)
    check = asyncio.create_task(monitor.check())
    await asyncio.sleep(0.05)  # the broker answered long ago; Redis has not yet
    assert not health.ready and health.cache == "disabled"
    cache.answer.set()
    await check
    assert health.snapshot()["ready"] is True and health.cache == "ok"
    assert gauge(pipeline, "moderation_ready") == 1


async def test_an_unreachable_cache_leaves_the_worker_ready_and_says_so() -> None:
    health = Health(models_loaded=True, pipeline_started=True)
    cache = SlowCache(fail=True)
    cache.answer.set()
    await Monitor(fake_app(), fake_pipeline(), cache, health).check()
    assert health.ready and health.cache == "unavailable"
    await Monitor(fake_app(), fake_pipeline(), None, health).check()
    assert health.cache == "disabled"


async def test_an_unreachable_broker_makes_the_worker_unready_in_the_metrics_too() -> None:
    health = Health(models_loaded=True, pipeline_started=True, broker_connected=True)
    pipeline = fake_pipeline()
    await Monitor(fake_app(broker_up=False), pipeline, None, health).check()
    assert not health.ready and gauge(pipeline, "moderation_ready") == 0


async def test_lag_is_the_high_water_mark_minus_the_next_offset_to_answer() -> None:
    p0, p1, p2 = (TP("posts", i) for i in range(3))
    # p0: answered up to offset 41 of 50 records; p1: nothing answered yet; p2: no fetch yet.
    app = fake_app({p0: 50, p1: 7, p2: None})
    pipeline = fake_pipeline({("posts", 0): 41})
    await Monitor(app, pipeline, None, Health()).check()
    assert gauge(pipeline, "moderation_consumer_lag", topic="posts", partition="0") == 8
    assert gauge(pipeline, "moderation_consumer_lag", topic="posts", partition="1") == 7
    assert gauge(pipeline, "moderation_consumer_lag", topic="posts", partition="2") is None


async def test_a_rebalance_forgets_the_lag_of_partitions_that_moved_away() -> None:
    p0, p1 = (TP("posts", i) for i in range(2))
    pipeline = fake_pipeline()
    await Monitor(fake_app({p0: 5, p1: 9}), pipeline, None, Health()).check()
    pipeline.stats.on_rebalance(assigned_partitions=1)
    await Monitor(fake_app({p1: 12}), pipeline, None, Health()).check()
    assert gauge(pipeline, "moderation_consumer_lag", topic="posts", partition="0") is None
    assert gauge(pipeline, "moderation_consumer_lag", topic="posts", partition="1") == 12
    assert gauge(pipeline, "moderation_assigned_partitions") == 1
    assert gauge(pipeline, "moderation_rebalances_total") == 1


def test_a_halted_worker_is_not_ready_and_says_why() -> None:
    health = Health(models_loaded=True, pipeline_started=True, broker_connected=True)
    assert health.ready
    health.halted = "publishing to 'posts.dlq' failed: TopicAuthorizationFailedError"
    assert not health.ready
    assert health.snapshot()["halted"] == health.halted
