"""The pipeline: records in, verdicts or dead letters out, acks in offset order.

Stages, each bounded so memory stays flat:

1. ``submit`` (called by the faust agent, one record at a time): parse; invalid
   records go to the dead-letter topic. Blocks when ``max_inflight_posts`` records
   are unanswered, which pauses consumption (backpressure).
2. ``_prepare`` (a task per post): resolve the reference, fetch images concurrently,
   tokenize the text off the event loop.
3. ``_form_batches``: the pure :class:`~worker.inference.batching.BatchBuilder` decides when
   to cut a batch; at most one formed batch waits while another computes.
4. ``_compute_batches``: cache lookup, encoders and heads on the inference thread.
5. ``_finish`` (a task per post): build the verdict, publish it, and only after the
   broker acknowledged it, release the record's ack.

Each stage hands the next a new value (:mod:`worker.inference.jobs`): ``Received``,
``Prepared``, ``Scored``, then the verdict, built once with its timings.

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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from worker.config.fingerprint import identity_with_settings
from worker.config.settings import Settings
from worker.consume.intake import InputRecord, read_post
from worker.errors import InvalidPost, ModelError, PublishError, UnusableContent
from worker.explain.stage import ExplainStage, wanted
from worker.explain.verdict import verdict_explanations
from worker.explain.windowed import merge_windows, window_requests
from worker.fetch.client import ImageFetcher
from worker.fetch.memo import ImageMemo
from worker.inference.batching import BatchBuilder, BatchPolicy
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import Prepared, Received, Scored
from worker.inference.prepare import Preparer
from worker.inference.runner import FeatureStage
from worker.inference.windows import WindowPolicy
from worker.known.hasher import KnownStage
from worker.known.matcher import KnownContent
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
        known: KnownContent | None = None,
        on_halt: Callable[[PublishError], None] | None = None,
        transactions: PartitionTransactions | None = None,
        explainer: ExplainStage | None = None,
    ) -> None:
        """``on_halt``: called when a record can be neither answered nor dead-lettered
        (both topics refused it for good); the record is never acked.
        ``transactions``: exactly-once; outputs are staged in offset order for the
        partition's next transaction instead of published at once.
        ``explainer``: explains the categories ``MODERATION_EXPLAIN_CATEGORIES`` asks for,
        once the verdict's flags are known, off the batch loop."""
        self.settings = settings
        self.scorer = scorer
        self.publisher = publisher
        self.clock = clock
        self.stats = PipelineStats()
        self.stats.watch_in_flight(lambda: self.in_flight)
        # The model's identity plus the hash of the settings that affect its scores.
        self.identity = identity_with_settings(scorer.identity, settings)
        self._shadow = shadow
        self._explainer = explainer
        self._explain_config = settings.explain
        self._on_halt = on_halt
        #: Why the pipeline stopped answering, once a dead letter was refused for good.
        self.halted: PublishError | None = None
        memo = None
        # A memo hit carries the live encoders' vectors and no pixels, which a shadow
        # model with other encoders could not use: with a shadow, every image is fetched.
        if cache is not None and settings.image_url_ttl_s > 0 and shadow is None:
            memo = ImageMemo(cache, scorer.encoder_ids, settings.image_url_ttl_s)
        banks = settings.known_banks
        if known is None and banks is not None:
            known = KnownContent(banks, settings.known_match_threshold, settings.known_reload_s)
        self._known = KnownStage(cache, known, settings.known_min_quality)
        self._preparer = Preparer(
            fetcher,
            cache,
            memo,
            reference_wait_ms=settings.reference_wait_ms,
            clip="clip_image" in scorer.encoder_ids,
            tokenize=scorer.tokenize,
            known=self._known,
            windows=WindowPolicy(
                settings.text_window_chars, settings.text_window_overlap_chars, settings.text_bound_chars
            ),
        )
        self._features = FeatureStage(scorer, cache, self.stats)
        self._transactions = transactions
        self._acker = InOrderAcker(on_release=self._stage if transactions is not None else None)
        self._inflight = asyncio.Semaphore(settings.max_inflight_posts)
        policy = BatchPolicy(settings.max_batch, settings.max_wait_ms / 1000, settings.max_batch_tokens)
        self._builder: BatchBuilder[Prepared] = BatchBuilder(policy)
        self._arrived = asyncio.Event()
        # A batch is cut only when the model is free: posts that arrive while it computes
        # join the next batch instead of queueing behind an early-cut one, so a post waits
        # at most for the batch in progress and its own (the latency bound of make bench).
        self._model_free = asyncio.Event()
        self._batches: asyncio.Queue[list[Prepared]] = asyncio.Queue(maxsize=1)
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
        self._preparer.close()
        self._known.close()
        if self._shadow is not None:
            self._shadow.close()
        if self._explainer is not None:
            await self._explainer.close()

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
        await self._inflight.acquire()
        self.stats.on_consumed()
        ticket = self._acker.register((record.topic, record.partition), record.offset, ack)
        try:
            read = read_post(record.value, self.settings.max_message_bytes)
        except InvalidPost as exc:
            self._spawn(self._dead_letter(record, exc, ticket))
            return
        received = Received(record, read.post, ticket, self.clock(), ignored_fields=read.ignored)
        self._spawn(self._prepare(received))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- stage 2: images and references ---------------------------------------------
    async def _prepare(self, received: Received) -> None:
        try:
            job = await self._preparer.prepare(received)
        except Exception as exc:  # a bug must cost one post a dead letter, not the stream
            log.exception("preparing post %s failed", received.post.id)
            await self._dead_letter(received.record, exc, received.ticket)
            return
        # Counted here, before the post's fate is known: an image-only post whose
        # images were all refused ends as a dead letter and never reaches a batch.
        self.stats.on_images([*job.images, *(job.reference.images if job.reference else ())])
        if not job.post.text.strip() and not job.usable_images:
            errors = [slot.error for slot in job.images if slot.error is not None]
            reasons = "; ".join(f"{type(e).__name__}: {e}" for e in errors)
            retriable = any(e.retriable for e in errors)
            unusable = UnusableContent(f"no text and no usable image ({reasons})", retriable)
            await self._dead_letter(received.record, unusable, received.ticket)
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

    async def _run_batch(self, batch: list[Prepared]) -> None:
        """Score a batch; if it fails, score its posts one by one so only the post
        that fails is dead-lettered."""
        try:
            started = self.clock()
            scored = await self._score(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("post %s could not be scored", batch[0].post.id)
                error = exc if isinstance(exc, ModelError) else ModelError(repr(exc))
                received = batch[0].received
                self._spawn(self._dead_letter(received.record, error, received.ticket))
                return
            log.warning("batch of %d failed (%r); retrying its posts one by one", len(batch), exc)
            for job in batch:
                await self._run_batch([job])
            return
        finished = self.clock()
        shadows: Sequence[Scored | None] = [None] * len(batch)
        if self._shadow is not None:
            shadows = await self._shadow.score(batch) or shadows
        for post, shadow in zip(scored, shadows, strict=True):
            self._spawn(self._finish(post, _Batch(started, finished, len(batch)), shadow))

    async def _score(self, batch: list[Prepared]) -> list[Scored]:
        started = self.clock()
        scored = await self._features.score(batch)
        self.stats.on_batch(
            len(batch), self.clock() - started, [started - job.received.arrived for job in batch]
        )
        return scored

    # --- stage 5: verdict, publish and ack ----------------------------------------------
    def _timings(self, job: Prepared, batch: _Batch) -> Timings:
        arrived = job.received.arrived
        return Timings(
            fetch_ms=round(job.fetch_ms, 3),
            queue_ms=round(max(0.0, batch.started - arrived) * 1000, 3),
            inference_ms=round((batch.finished - batch.started) * 1000, 3),
            total_ms=round((self.clock() - arrived) * 1000, 3),
            batch_size=batch.size,
        )

    async def _finish(self, scored: Scored, batch: _Batch, shadow_scored: Scored | None = None) -> None:
        job = scored.prepared
        timings = self._timings(job, batch)
        verdict = build_verdict(scored, self.identity, self.settings, timings, utcnow())
        verdict = await self._explained(verdict, job)
        shadow = None
        if self._shadow is not None and shadow_scored is not None:
            shadow = self._shadow.verdict(shadow_scored, timings, utcnow())
        payload = verdict.model_dump_json().encode()
        key = job.post.id.encode()
        s = self.settings
        outputs = [Output(s.verdicts_topic, key, payload, JSON_HEADERS)]
        if verdict.flagged:
            outputs.append(Output(s.flagged_topic, key, payload, JSON_HEADERS))
        if shadow is not None:
            outputs.append(Output(s.shadow_topic, key, shadow.model_dump_json().encode(), JSON_HEADERS))
        received = job.received
        refused = await self._publish(received.ticket, outputs)
        if refused is not None:
            # Retrying cannot help (too large, not authorized): the post is answered
            # with a dead letter that says why, rather than holding its partition forever.
            log.error("verdict for post %s cannot be published: %s", job.post.id, refused)
            await self._dead_letter(received.record, refused, received.ticket)
            return
        self.stats.on_verdict(verdict.flagged, self._latency_s(received.record), verdict.degraded)
        if verdict.text is not None:
            self.stats.on_text(len(verdict.text.windows))
        self._release(received.ticket)

    async def _explained(self, verdict: Verdict, job: Prepared) -> Verdict:
        """The verdict with its explanations (its flags decide which), their time in its timings."""
        if self._explainer is None:
            return verdict
        chosen = wanted(self._explain_config, verdict.categories, self._explainer.explainable)
        if not chosen:
            return verdict
        started = self.clock()
        images = tuple(
            (n, slot.image.image)
            for n, slot in enumerate(job.images)
            if slot.usable and slot.image is not None
        )
        parts = window_requests(job.post.text, verdict.text, chosen, images)
        explained = await asyncio.gather(*(self._explainer.explain(request) for _, request in parts))
        found = merge_windows([(offset, e) for (offset, _), e in zip(parts, explained, strict=True)])
        timings = verdict.timings.model_copy(
            update={
                "explain_ms": round((self.clock() - started) * 1000, 3),
                "total_ms": round((self.clock() - job.received.arrived) * 1000, 3),
            }
        )
        degraded = [*verdict.degraded, "explanations_unavailable"] if found.failed else verdict.degraded
        update = {"explanations": verdict_explanations(found), "timings": timings, "degraded": degraded}
        return verdict.model_copy(update=update)

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
        on_error = self.stats.on_publish_error
        sends = [
            send_with_retry(self.publisher, o.topic, o.key, o.value, o.headers, on_error=on_error)
            for o in outputs
        ]
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
        self._inflight.release()


@dataclass(frozen=True, slots=True)
class _Batch:
    """When a batch ran on the model, and how many posts it held."""

    started: float
    finished: float
    size: int


async def _refusals(sends: Sequence[Coroutine[Any, Any, None]]) -> PublishError | None:
    """Run the sends together; the first final refusal among them, if any.
    Anything other than a :class:`PublishError` is raised."""
    results = await asyncio.gather(*sends, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, PublishError):
            raise result
    return next((r for r in results if isinstance(r, PublishError)), None)
