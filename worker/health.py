"""What liveness and readiness mean for this worker, and the periodic checks behind them.

Ready means: the models are loaded, the broker answers, and Redis is reachable, or the
worker knowingly runs without the cache (disabled, or degraded while Redis is down).

Example::

    health = Health(models_loaded=True)
    health.ready          # False until the monitor saw the broker
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

from worker.cache import EmbeddingCache
from worker.errors import CacheError
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

    @property
    def ready(self) -> bool:
        # An unreachable Redis does not make the worker unready: it runs without the
        # cache (verdicts say "degraded") rather than stopping the stream.
        return self.models_loaded and self.pipeline_started and self.broker_connected

    def snapshot(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "models_loaded": self.models_loaded,
            "pipeline_started": self.pipeline_started,
            "broker_connected": self.broker_connected,
            "cache": self.cache,
        }


class Monitor:
    """Checks the broker and Redis, and updates consumer lag, every ``interval_s``."""

    def __init__(self, app: Any, pipeline: Pipeline, cache: EmbeddingCache | None, health: Health) -> None:
        self.app = app
        self.pipeline = pipeline
        self.cache = cache
        self.health = health

    async def check(self) -> None:
        await asyncio.gather(self._check_broker(), self._check_cache())
        self._update_lag()

    async def _check_broker(self) -> None:
        try:
            producer = self.app.producer._ensure_producer()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), timeout=5.0)
        except Exception as exc:  # any failure means "not connected"; the reason is logged
            if self.health.broker_connected:
                log.warning("broker unreachable: %r", exc)
            self.health.broker_connected = False
            return
        self.health.broker_connected = True

    async def _check_cache(self) -> None:
        if self.cache is None:
            self.health.cache = "disabled"
            return
        try:
            await self.cache.ping()
        except CacheError as exc:
            if self.health.cache != "unavailable":
                log.warning("Redis unavailable, running without the cache: %s", exc)
            self.health.cache = "unavailable"
            return
        if self.health.cache == "unavailable":
            log.info("Redis is back; caching resumes")
        self.health.cache = "ok"

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
