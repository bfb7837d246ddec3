"""Readiness: the monitor publishes the broker's and the cache's states together."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from worker.errors import CacheError
from worker.ops.health import Health, Monitor


class SlowCache:
    """A Redis whose PING answers only when told to (or fails)."""

    def __init__(self, fail: bool = False) -> None:
        self.answer = asyncio.Event()
        self.fail = fail

    async def ping(self) -> None:
        await self.answer.wait()
        if self.fail:
            raise CacheError("PING failed: connection refused")


def fake_app() -> Any:
    async def metadata() -> None:
        return None

    client = SimpleNamespace(fetch_all_metadata=metadata)
    producer = SimpleNamespace(_ensure_producer=lambda: SimpleNamespace(client=client))
    consumer = SimpleNamespace(assignment=lambda: set())
    return SimpleNamespace(producer=producer, consumer=consumer)


async def test_ready_is_never_shown_beside_an_unchecked_cache() -> None:
    health = Health(models_loaded=True, pipeline_started=True)
    cache = SlowCache()
    monitor = Monitor(fake_app(), None, cache, health)  # type: ignore[arg-type]
    check = asyncio.create_task(monitor.check())
    await asyncio.sleep(0.05)  # the broker answered long ago; Redis has not yet
    assert not health.ready and health.cache == "disabled"
    cache.answer.set()
    await check
    assert health.snapshot()["ready"] is True and health.cache == "ok"


async def test_an_unreachable_cache_leaves_the_worker_ready_and_says_so() -> None:
    health = Health(models_loaded=True, pipeline_started=True)
    cache = SlowCache(fail=True)
    cache.answer.set()
    await Monitor(fake_app(), None, cache, health).check()  # type: ignore[arg-type]
    assert health.ready and health.cache == "unavailable"
    await Monitor(fake_app(), None, None, health).check()  # type: ignore[arg-type]
    assert health.cache == "disabled"


def test_a_halted_worker_is_not_ready_and_says_why() -> None:
    health = Health(models_loaded=True, pipeline_started=True, broker_connected=True)
    assert health.ready
    health.halted = "publishing to 'posts.dlq' failed: TopicAuthorizationFailedError"
    assert not health.ready
    assert health.snapshot()["halted"] == health.halted
