"""What liveness and readiness mean for this worker, and the periodic checks behind them.

Ready means: the models are loaded, the broker answers, and Redis is reachable, or the
worker knowingly runs without the cache (disabled, or degraded while Redis is down);
and it has not halted (a record that neither its verdict topic nor the dead-letter
topic would take: the worker then exits).

Example::

    health = Health(models_loaded=True)
    health.ready          # False until the monitor saw the broker
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache
from worker.pipeline import Pipeline

__all__ = ["Health", "Monitor"]

log = logging.getLogger(__name__)
CacheState = Literal["ok", "unavailable", "disabled"]


@dataclass
class Health:
    models_loaded: bool = False
    pipeline_started: bool = False
    broker_connected: bool = False
    cache: CacheState = "disabled"
    #: Why the worker stopped answering, if it did.
    halted: str | None = None
    #: What it runs without, one line each (worker.ops.missing); it is ready all the same.
    missing: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        # An unreachable Redis does not make the worker unready: it runs without the
        # cache (verdicts say "degraded") rather than stopping the stream.
        running = self.models_loaded and self.pipeline_started and self.broker_connected
        return running and self.halted is None

    def snapshot(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "models_loaded": self.models_loaded,
            "pipeline_started": self.pipeline_started,
            "broker_connected": self.broker_connected,
            "cache": self.cache,
            "halted": self.halted,
            "missing": list(self.missing),
        }


class Monitor:
    """Checks the broker and Redis, and updates readiness and consumer lag, every ``interval_s``.

    The lag is this worker's own view: the high-water mark its fetches last saw minus the
    offset it last answered, per assigned partition. While the broker is unreachable it
    keeps its last value (``moderation_ready`` falls to 0 instead); a broker-side view of
    the whole group comes from an exporter (see docs/operations.md).
    """

    def __init__(self, app: Any, pipeline: Pipeline, cache: EmbeddingCache | None, health: Health) -> None:
        self.app = app
        self.pipeline = pipeline
        self.cache = cache
        self.health = health

    async def check(self) -> None:
        # Both answers are published together: /readyz must never show the broker
        # connected beside a cache state that was not checked yet.
        broker, cache = await asyncio.gather(self._broker_state(), self._cache_state())
        self.health.broker_connected, self.health.cache = broker, cache
        self.pipeline.stats.set_ready(self.health.ready)
        self._update_lag()

    async def _broker_state(self) -> bool:
        try:
            producer = self.app.producer._ensure_producer()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=5.0)
        except Exception as exc:  # any failure means "not connected"; the reason is logged
            if self.health.broker_connected:
                log.warning("broker unreachable: %r", exc)
            return False
        return True

    async def _cache_state(self) -> CacheState:
        if self.cache is None:
            return "disabled"
        try:
            await self.cache.ping()
        except CacheError as exc:
            if self.health.cache != "unavailable":
                log.warning("Redis unavailable, running without the cache: %s", exc)
            return "unavailable"
        if self.health.cache == "unavailable":
            log.info("Redis is back; caching resumes")
        return "ok"

    def _update_lag(self) -> None:
        consumer = self.app.consumer
        try:
            assignment = consumer.assignment()
        except Exception:  # not started or being rebalanced: try again next time
            return
        for tp in assignment:
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is None:
                continue
            done = self.pipeline.last_acked(tp.topic, tp.partition)
            processed = done + 1 if done is not None else 0
            self.pipeline.stats.set_lag(tp.topic, tp.partition, highwater - processed)
