"""The pipeline: records in, verdicts or dead letters out, acks in offset order.

Stages, each bounded so memory stays flat:

1. ``submit`` (called by the faust agent, one record at a time): parse; invalid
   records go to the dead-letter topic. Blocks when ``max_inflight_posts`` records
   are unanswered, which pauses consumption (backpressure).
2. ``_prepare`` (a task per post): resolve the reference, fetch images concurrently.
3. ``_form_batches``: the pure :class:`~worker.inference.batching.BatchBuilder` decides when
   to cut a batch; at most one formed batch waits while another computes.
4. ``_compute_batches``: cache lookup, encoders and heads on the inference thread.
5. ``_finish`` (a task per post): publish, and only after the broker acknowledged
   it, release the record's ack.

Example::

    pipeline = Pipeline(settings, scorer, fetcher, cache, publisher)
    await pipeline.start()
    await pipeline.submit(record, ack=event.ack)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from worker.config.fingerprint import identity_with_settings
from worker.config.settings import Settings
from worker.consume.intake import InputRecord, parse_post
from worker.errors import InvalidPost, ModelError, PublishError, UnusableContent
from worker.fetch.client import ImageFetcher
from worker.fetch.memo import ImageMemo
from worker.inference.batching import BatchBuilder, BatchPolicy
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import Job
from worker.inference.prepare import Preparer
from worker.inference.runner import FeatureStage
from worker.messages import Timings, Verdict
from worker.model.types import Scorer
from worker.ops.metrics import PipelineStats
from worker.shadow import Shadow
from worker.verdicts.acks import InOrderAcker, Ticket
from worker.verdicts.build import build_verdict
from worker.verdicts.dead_letters import build_dead_letter
from worker.verdicts.publish import Publisher, send_with_retry
from worker.verdicts.transactions import Output, PartitionTransactions

__all__ = ["Pipeline"]

log = logging.getLogger(__name__)
JSON_HEADERS = {"content-type": b"application/json"}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Turns input records into published verdicts or dead letters."""

    def __init__(
        self,
        settings: Settings,
        scorer: Scorer,
        fetcher: ImageFetcher,
        cache: EmbeddingCache | None,
        publisher: Publisher,
        clock: Callable[[], float] = time.monotonic,
        shadow: Shadow | None = None,
        on_halt: Callable[[PublishError], None] | None = None,
        transactions: PartitionTransactions | None = None,
    ) -> None:
        """``on_halt``: called when a record can be neither answered nor dead-lettered
        (both topics refused it for good); the record is never acked.
        ``transactions``: exactly-once; outputs are staged in offset order for the
        partition's next transaction instead of published at once."""
        self.settings = settings
        self.scorer = scorer
        self.publisher = publisher
        self.clock = clock
        self.stats = PipelineStats()
        # The model's identity plus the hash of the settings that affect its scores.
        self.identity = identity_with_settings(scorer.identity, settings)
        self._shadow = shadow
        self._on_halt = on_halt
        #: Why the pipeline stopped answering, once a dead letter was refused for good.
        self.halted: PublishError | None = None
        memo = None
        # A memo hit carries the live encoders' vectors and no pixels, which a shadow
        # model with other encoders could not use: with a shadow, every image is fetched.
        if cache is not None and settings.image_url_ttl_s > 0 and shadow is None:
            memo = ImageMemo(cache, scorer.encoder_ids, settings.image_url_ttl_s)
        self._preparer = Preparer(settings, fetcher, cache, memo, clip="clip_image" in scorer.encoder_ids)
        self._features = FeatureStage(scorer, cache, self.stats)
        self._transactions = transactions
        self._acker = InOrderAcker(on_release=self._stage if transactions is not None else None)
        self._slots = asyncio.Semaphore(settings.max_inflight_posts)
        policy = BatchPolicy(settings.max_batch, settings.max_wait_ms / 1000, settings.max_batch_tokens)
        self._builder: BatchBuilder[Job] = BatchBuilder(policy)
        self._arrived = asyncio.Event()
        # A batch is cut only when the model is free: posts that arrive while it computes
        # join the next batch instead of queueing behind an early-cut one, so a post waits
        # at most for the batch in progress and its own (the latency bound of make bench).
        self._model_free = asyncio.Event()
        self._batches: asyncio.Queue[list[Job]] = asyncio.Queue(maxsize=1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []

    # --- life cycle ---------------------------------------------------------------
    async def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._form_batches(), name="form-batches"),
            asyncio.create_task(self._compute_batches(), name="compute-batches"),
        ]

    async def stop(self) -> None:
        """Cancel everything; unfinished records stay unacked and are read again."""
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        for task in [*self._loops, *self._tasks]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._features.close()
        if self._shadow is not None:
            self._shadow.close()

    @property
    def in_flight(self) -> int:
        return self._acker.pending

    def last_acked(self, topic: str, partition: int) -> int | None:
        """Offset of the last record of this partition answered and acked here."""
        return self._acker.last_acked.get((topic, partition))

    # --- stage 1: intake -----------------------------------------------------------
    async def submit(self, record: InputRecord, ack: Callable[[], object]) -> None:
        if self._transactions is not None:
            await self._transactions.wait_ready((record.topic, record.partition))
        await self._slots.acquire()
        self.stats.on_consumed()
        ticket = self._acker.register((record.topic, record.partition), record.offset, ack)
        try:
            post = parse_post(record.value, self.settings.max_message_bytes)
        except InvalidPost as exc:
            self._spawn(self._dead_letter(record, exc, ticket))
            return
        job = Job(record=record, post=post, ticket=ticket, arrived=self.clock())
        self._spawn(self._prepare(job))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- stage 2: images and references ---------------------------------------------
    async def _prepare(self, job: Job) -> None:
        try:
            await self._preparer.prepare(job)
            job.tokens = self.scorer.count_tokens(job.post.text) if job.post.text else 1
        except Exception as exc:  # a bug must cost one post a dead letter, not the stream
            log.exception("preparing post %s failed", job.post.id)
            await self._dead_letter(job.record, exc, job.ticket)
            return
        if not job.post.text.strip() and not job.usable_images:
            errors = [slot.error for slot in job.images if slot.error is not None]
            reasons = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
            retriable = any(e.retriable for e in errors)
            await self._dead_letter(
                job.record, UnusableContent(f"no text and no usable image ({reasons})", retriable), job.ticket
            )
            return
        self._builder.add(job, job.tokens, self.clock())
        self._arrived.set()

    # --- stage 3: batches -------------------------------------------------------------
    async def _form_batches(self) -> None:
        while True:
            now = self.clock()
            if self._builder.ready(now):
                await self._model_free.wait()
                self._model_free.clear()
                await self._batches.put(self._builder.take())
                continue
            self._arrived.clear()
            timeout = None if not len(self._builder) else self._builder.deadline() - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout)

    # --- stage 4: models --------------------------------------------------------------
    async def _compute_batches(self) -> None:
        while True:
            self._model_free.set()
            batch = await self._batches.get()
            await self._run_batch(batch)

    async def _run_batch(self, batch: list[Job]) -> None:
        """Score a batch; if it fails, score its posts one by one so only the post
        that fails is dead-lettered."""
        try:
            started = self.clock()
            verdicts = await self._score(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("post %s could not be scored", batch[0].post.id)
                error = exc if isinstance(exc, ModelError) else ModelError(repr(exc))
                self._spawn(self._dead_letter(batch[0].record, error, batch[0].ticket))
                return
            log.warning("batch of %d failed (%r); retrying its posts one by one", len(batch), exc)
            for job in batch:
                await self._run_batch([job])
            return
        shadows: Sequence[Verdict | None] = [None] * len(batch)
        if self._shadow is not None:
            shadows = await self._shadow.verdicts(batch, started, self.clock()) or shadows
        for job, verdict, shadow in zip(batch, verdicts, shadows, strict=True):
            self._spawn(self._finish(job, verdict, shadow))

    async def _score(self, batch: list[Job]) -> list[Verdict]:
        started = self.clock()
        scores, cache_ok = await self._features.score(batch)
        finished = self.clock()
        self.stats.on_batch(len(batch), finished - started, [started - job.arrived for job in batch])
        for job in batch:
            for slot in job.images:
                self.stats.on_image("ok" if slot.error is None else slot.error.kind)
        verdicts = []
        for job, score in zip(batch, scores, strict=True):
            if not cache_ok:
                job.degraded.add("cache_unavailable")
            timings = Timings(
                fetch_ms=round(job.fetch_ms, 3),
                queue_ms=round(max(0.0, started - job.arrived) * 1000, 3),
                inference_ms=round((finished - started) * 1000, 3),
                total_ms=0.0,
                batch_size=len(batch),
            )
            verdicts.append(build_verdict(job, score, self.identity, self.settings, timings, utcnow()))
        return verdicts

    # --- stage 5: publish and ack ------------------------------------------------------
    async def _finish(self, job: Job, verdict: Verdict, shadow: Verdict | None = None) -> None:
        total = round((self.clock() - job.arrived) * 1000, 3)
        verdict = verdict.model_copy(
            update={"timings": verdict.timings.model_copy(update={"total_ms": total})}
        )
        payload = verdict.model_dump_json().encode()
        key = job.post.id.encode()
        s = self.settings
        outputs = [Output(s.verdicts_topic, key, payload, JSON_HEADERS)]
        if verdict.flagged:
            outputs.append(Output(s.flagged_topic, key, payload, JSON_HEADERS))
        if shadow is not None:
            outputs.append(Output(s.shadow_topic, key, shadow.model_dump_json().encode(), JSON_HEADERS))
        refused = await self._publish(job.ticket, outputs)
        if refused is not None:
            # Retrying cannot help (too large, not authorized): the post is answered
            # with a dead letter that says why, rather than holding its partition forever.
            log.error("verdict for post %s cannot be published: %s", job.post.id, refused)
            await self._dead_letter(job.record, refused, job.ticket)
            return
        self.stats.on_verdict(verdict.flagged, self._latency_s(job.record), verdict.degraded)
        self._release(job.ticket)

    async def _dead_letter(self, record: InputRecord, exc: Exception, ticket: Ticket) -> None:
        log.info(
            "dead letter: %s: %s",
            type(exc).__name__,
            exc,
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "kind": getattr(exc, "kind", "error"),
            },
        )
        letter = build_dead_letter(record, exc, self.settings.dlq_max_original_bytes, utcnow())
        payload = letter.model_dump_json().encode()
        letter_out = Output(self.settings.dlq_topic, record.key, payload, JSON_HEADERS)
        refused = await self._publish(ticket, [letter_out])
        if refused is not None:
            self._halt(record, refused)
            return
        self.stats.on_dead_letter(letter.error.kind)
        self._release(ticket)

    async def _publish(self, ticket: Ticket, outputs: list[Output]) -> PublishError | None:
        """Publish now (at-least-once), or keep the outputs with the record for its
        partition's transaction (exactly-once); a final refusal is returned."""
        if self._transactions is not None:
            ticket.outputs = outputs
            return None
        sends = [send_with_retry(self.publisher, o.topic, o.key, o.value, o.headers) for o in outputs]
        return await _refusals(sends)

    def _stage(self, ticket: Ticket) -> None:
        assert self._transactions is not None
        partition = cast(tuple[str, int], ticket.partition)  # registered as (topic, partition)
        self._transactions.stage(partition, ticket.offset, ticket.outputs)

    def _halt(self, record: InputRecord, exc: PublishError) -> None:
        """Nowhere to put the answer: the record stays unacked (never committed), so it is
        read again after a restart, and the owner is told to stop."""
        log.critical(
            "record %s[%d]@%d can be neither answered nor dead-lettered: %s",
            record.topic,
            record.partition,
            record.offset,
            exc,
        )
        if self.halted is None:
            self.halted = exc
            if self._on_halt is not None:
                self._on_halt(exc)

    @staticmethod
    def _latency_s(record: InputRecord) -> float | None:
        """From the post's Kafka timestamp to now (wall clock: the timestamp is too)."""
        if record.timestamp_ms is None:
            return None
        return time.time() - record.timestamp_ms / 1000

    def _release(self, ticket: Ticket) -> None:
        self._acker.done(ticket)
        self._slots.release()


async def _refusals(sends: Sequence[Coroutine[Any, Any, None]]) -> PublishError | None:
    """Run the sends together; the first final refusal among them, if any.
    Anything other than a :class:`PublishError` is raised."""
    results = await asyncio.gather(*sends, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, PublishError):
            raise result
    return next((r for r in results if isinstance(r, PublishError)), None)
