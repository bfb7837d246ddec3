"""Where the faust app is assembled: topics, the consuming agent, start-up and shutdown.

Example::

    app, pipeline = build_app(settings, scorer)
    faust.Worker(app, loglevel="info").execute_from_commandline()
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, cast

import faust

from worker.config.credentials import kafka_credentials
from worker.config.settings import Settings
from worker.consume.intake import InputRecord
from worker.consume.kafka_app import ModerationApp
from worker.errors import PublishError
from worker.explain.stage import explain_stage
from worker.fetch.client import ImageFetcher
from worker.inference.cache import EmbeddingCache
from worker.model.types import Scorer
from worker.ops.gc import GcPauses, freeze_startup_heap
from worker.ops.health import Health, Monitor
from worker.ops.missing import log_missing, missing_parts
from worker.ops.web import add_endpoints
from worker.pipeline import Pipeline
from worker.shadow import Shadow
from worker.verdicts.publish import FaustPublisher
from worker.verdicts.transactions import PartitionTransactions

__all__ = ["EXIT_UNPUBLISHABLE", "build_app", "record_from_event"]

log = logging.getLogger(__name__)

#: Exit status when a record could be neither answered nor dead-lettered (EX_SOFTWARE).
EXIT_UNPUBLISHABLE = 70
#: Time for /readyz and the logs to say why, before the process ends.
_HALT_GRACE_S = 1.0


def _faust_app(settings: Settings, transactions: PartitionTransactions | None = None) -> faust.App:
    datadir = Path(tempfile.mkdtemp(prefix="moderation-worker-"))
    return ModerationApp(
        settings.group_id,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        offset_committer=transactions.commit if transactions is not None else None,
        broker=settings.broker,
        broker_credentials=kafka_credentials(settings),
        datadir=datadir,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset=settings.auto_offset_reset,
        consumer_group_instance_id=settings.group_instance_id,
        # faust's own exactly_once publishes through its producer as sends happen; ours
        # stages outputs in offset order first (worker.verdicts.transactions).
        processing_guarantee="at_least_once",
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        broker_rebalance_timeout=settings.rebalance_timeout_s,
        broker_commit_interval=settings.commit_interval_s,
        stream_wait_empty=True,  # finish and commit in-flight posts before a rebalance
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replicas,
        topic_disable_leader=True,
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.web_host,
    )


def record_from_event(event: Any) -> InputRecord:
    """The raw record behind a faust event (bytes exactly as they were read)."""
    message = event.message
    timestamp = message.timestamp
    return InputRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp_ms=int(timestamp * 1000) if timestamp else None,
        key=message.key,
        value=message.value if message.value is not None else b"",
    )


def _identity_labels(scorer: Scorer) -> dict[str, str]:
    identity = scorer.identity
    return {
        "text_encoder": identity.text_encoder,
        "image_encoder": identity.image_encoder,
        "clip": identity.clip or "",
        "heads": identity.heads,
        "weights_sha256": identity.weights_sha256,
    }


def build_app(
    settings: Settings, scorer: Scorer, shadow: tuple[Settings, Scorer] | None = None
) -> tuple[faust.App, Pipeline]:
    """The faust app with its agent, and the pipeline the agent feeds.

    ``shadow``: a candidate model's settings and scorer, whose verdicts go to
    ``settings.shadow_topic`` only.
    """
    missing = missing_parts(settings)
    log_missing(missing)
    health = Health(models_loaded=True, missing=missing)

    def halt(exc: PublishError) -> None:
        # No graceful shutdown: it would go on committing. The unanswered record stays
        # uncommitted and is read again by the next worker; a non-zero exit tells the
        # orchestrator (and whoever watches it) that the output topics need a look.
        health.halted = str(exc)
        log.critical("stopping: an answer can be neither published nor dead-lettered (%s)", exc)
        asyncio.get_running_loop().call_later(_HALT_GRACE_S, os._exit, EXIT_UNPUBLISHABLE)

    early_commits: set[asyncio.Task[bool]] = set()

    def commit_soon() -> None:
        task = asyncio.ensure_future(app.consumer.commit())
        early_commits.add(task)
        task.add_done_callback(early_commits.discard)

    transactions = None
    if settings.processing_guarantee == "exactly_once":
        transactions = PartitionTransactions(settings, on_failure=halt, on_full=commit_soon)
    app = _faust_app(settings, transactions)
    cache = EmbeddingCache.from_settings(settings) if settings.cache_enabled else None
    fetcher = ImageFetcher(settings.fetch)
    candidate = Shadow(shadow[0], shadow[1], cache) if shadow is not None else None
    publisher = FaustPublisher(app)
    pipeline = Pipeline(
        settings,
        scorer,
        fetcher,
        cache,
        publisher,
        shadow=candidate,
        on_halt=halt,
        transactions=transactions,
        explainer=explain_stage(scorer, settings.explain),
    )
    posts = app.topic(
        settings.posts_topic, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions
    )

    @app.agent(posts, name="moderate")
    async def moderate(stream: Any) -> None:
        # Acks are manual: a record is acked only once its verdict or dead letter
        # has been acknowledged by the broker (see worker.verdicts.acks).
        async for event in stream.noack().events():
            await pipeline.submit(record_from_event(event), ack=event.ack)

    monitor = Monitor(app, pipeline, cache, health)
    pipeline.stats.set_model(_identity_labels(scorer))
    add_endpoints(app, pipeline.stats, health)

    pauses = GcPauses(pipeline.stats.on_gc_pause)

    async def start_pipeline() -> None:
        outputs = [settings.verdicts_topic, settings.flagged_topic, settings.dlq_topic]
        if candidate is not None:
            outputs.append(settings.shadow_topic)
        for name in outputs:
            await app.topic(name, partitions=settings.topic_partitions).maybe_declare()
        await pipeline.start()
        if settings.gc_freeze:
            log.info("startup heap frozen: %d objects out of the collector's reach", freeze_startup_heap())
        pauses.install()
        health.pipeline_started = True
        await monitor.check()
        log.info(
            "pipeline started: consuming %s; metrics, /healthz and /readyz on http://%s:%d",
            settings.posts_topic,
            settings.web_host,
            settings.web_port,
        )

    async def check_health() -> None:
        await monitor.check()

    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        # Each rebalance ends with the member's whole new assignment (eager protocol).
        mine = sum(1 for tp in assigned if tp.topic == settings.posts_topic)
        log.info("partitions assigned: %d of %s", mine, settings.posts_topic)
        pipeline.stats.on_rebalance(mine)

    async def stop_pipeline(sender: Any, *args: Any, signal: Any, **kwargs: Any) -> None:
        # Runs after faust waited for every in-flight record to be acked, and committed.
        await pipeline.stop()
        if transactions is not None:
            await transactions.close()
        pauses.uninstall()
        log.info("pipeline stopped: %s", pipeline.stats.summary())
        await fetcher.aclose()
        if cache is not None:
            await cache.aclose()

    if transactions is not None:
        _follow_assignment(app, transactions, settings.posts_topic)
    app.task(start_pipeline)
    app.timer(settings.health_interval_s)(check_health)
    app.on_before_shutdown.connect(cast(Any, stop_pipeline))
    app.on_partitions_assigned.connect(cast(Any, on_assigned))
    return app, pipeline


def _follow_assignment(app: faust.App, transactions: PartitionTransactions, topic: str) -> None:
    """A transactional producer per assigned partition, started before its records are
    read (which fences its previous owner) and stopped once it is revoked (after faust
    waited for its in-flight records and committed them)."""

    def ours(tps: Any) -> list[tuple[str, int]]:
        return [(tp.topic, tp.partition) for tp in tps if tp.topic == topic]

    async def on_revoked(sender: Any, revoked: Any, *args: Any, **kwargs: Any) -> None:
        await transactions.revoke(ours(revoked))

    async def on_assigned(sender: Any, assigned: Any, *args: Any, **kwargs: Any) -> None:
        await transactions.assign(ours(assigned))

    app.on_partitions_revoked.connect(cast(Any, on_revoked))
    app.on_partitions_assigned.connect(cast(Any, on_assigned))
