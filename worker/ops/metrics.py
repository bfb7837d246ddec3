"""What a pipeline has done: plain counters for logs and tests, and the same events
as Prometheus metrics (each :class:`PipelineStats` owns its registry, which also carries
the ``process_*`` and ``python_info`` metrics).

Every labelled series exists from the start at 0 (each known label value is created
up front): ``rate()`` and ``increase()`` need a sample before the first event, or they
miss it. The alert rules in ``deploy/prometheus/alerts.yml`` read these names.

Example::

    stats = PipelineStats()
    stats.on_consumed()
    generate_latest(stats.registry)     # the /metrics body
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client import Counter as PromCounter

from worker.errors import FetchError, InvalidPost, ModelError, ModerationError, RefusedURL
from worker.messages import OPTIONAL_POST_FIELDS

__all__ = [
    "DEGRADED_PARTS",
    "ImageAttempt",
    "PipelineStats",
    "dead_letter_reasons",
    "degraded_part",
    "image_outcomes",
    "refused_url_reasons",
]

#: Parts a verdict can be degraded by (``Verdict.degraded``), besides its images.
DEGRADED_PARTS = ("cache_unavailable", "images_unavailable", "text_beyond_bound")


def degraded_part(entry: str) -> str:
    """A ``Verdict.degraded`` entry as a metric label: ``image:INDEX:KIND`` counts as
    ``image:KIND`` (the index would make one label per position)."""
    if entry.startswith("image:"):
        return "image:" + entry.rsplit(":", 1)[-1]
    return entry


def refused_url_reasons() -> list[str]:
    """Why an image URL is not fetched (``worker.fetch.refusals``)."""
    return [kind for kind in _kinds(RefusedURL) if kind != RefusedURL.kind]


_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
_GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class ImageAttempt(Protocol):
    """An image of a post after preparation (``inference.jobs.ImageSlot``)."""

    @property
    def image(self) -> object | None: ...

    @property
    def error(self) -> FetchError | None: ...


def _kinds(root: type[ModerationError]) -> list[str]:
    """``kind`` of ``root`` and of every error class below it."""
    kinds, todo = [], [root]
    while todo:
        cls = todo.pop()
        kinds.append(cls.kind)
        todo.extend(cls.__subclasses__())
    return sorted(set(kinds))


def dead_letter_reasons() -> list[str]:
    """Every reason a dead letter can give: invalid input, a model failure, or
    ``error`` (an unexpected exception, see ``verdicts.build.error_info``)."""
    return sorted({*_kinds(InvalidPost), *_kinds(ModelError), "error"})


def image_outcomes() -> list[str]:
    """``ok`` (fetched), ``memo`` (known from the URL memo, not fetched), or a fetch error."""
    return ["ok", "memo", *_kinds(FetchError)]


def _zero(family: PromCounter | Histogram, values: Iterable[str]) -> None:
    for value in values:
        family.labels(value)


class _Prometheus:
    """The metric families, registered in one registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> PromCounter:
            return PromCounter(f"moderation_{name}", doc, labels, registry=registry)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(f"moderation_{name}", doc, buckets=buckets, registry=registry)

        self.consumed = counter("posts_consumed", "Records read from the posts topic.")
        self.verdicts = counter("verdicts_published", "Verdicts acknowledged by the broker.")
        self.flagged = counter("flagged_verdicts_published", "Flagged verdicts published.")
        self.degraded = counter(
            "degraded_verdicts_published",
            "Verdicts published with a part degraded (e.g. cache_unavailable), by part.",
            ("part",),
        )
        self.dead_letters = counter("dead_letters", "Dead letters published, by reason.", ("reason",))
        self.batch_size = histogram("batch_size", "Posts per model batch.", _BATCH_BUCKETS)
        self.batch_wait = histogram(
            "batch_wait_seconds", "From a post's arrival to the start of its batch.", _LATENCY_BUCKETS
        )
        self.batch_compute = histogram(
            "batch_compute_seconds", "Encoders and heads for one batch.", _LATENCY_BUCKETS
        )
        self.latency = histogram(
            "end_to_end_latency_seconds",
            "From the post's Kafka timestamp to its verdict's acknowledgement.",
            _LATENCY_BUCKETS,
        )
        self.gc_pause = Histogram(
            "moderation_gc_pause_seconds",
            "Garbage-collector pauses (every thread stops), by generation.",
            ("generation",),
            buckets=_GC_BUCKETS,
            registry=registry,
        )
        self.cache = counter("cache_lookups", "Embedding cache lookups.", ("result",))
        self.images = counter("image_fetches", "Image fetch outcomes, by kind.", ("outcome",))
        self.refused_urls = counter(
            "image_urls_refused", "Image URLs of posts that were not fetched at all, by reason.", ("reason",)
        )
        self.windowed_texts = counter(
            "windowed_texts", "Post texts too long for one window, scored in several."
        )
        self.text_windows = counter("text_windows_scored", "Text windows scored (one per short text).")
        self.lag = Gauge(
            "moderation_consumer_lag",
            "Records behind the partition's high-water mark.",
            ("topic", "partition"),
            registry=registry,
        )
        self.model = Info("moderation_model", "Identity of the loaded models.", registry=registry)
        self.in_flight = Gauge(
            "moderation_posts_in_flight", "Posts read and not yet answered.", registry=registry
        )
        self.publish_errors = counter("publish_errors", "Failed sends to the broker (each attempt).")
        self.publish_retries = counter("publish_retries", "Sends tried again after a retriable failure.")
        self.rebalances = counter("rebalances", "Consumer-group rebalances this worker took part in.")
        self.assigned = Gauge(
            "moderation_assigned_partitions",
            "Partitions of the posts topic assigned to this worker.",
            registry=registry,
        )
        self.ready = Gauge("moderation_ready", "1 when /readyz answers 200, else 0.", registry=registry)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        _zero(self.degraded, [*DEGRADED_PARTS, *(f"image:{kind}" for kind in image_outcomes()[2:])])
        _zero(self.degraded, [f"field_ignored:{name}" for name in OPTIONAL_POST_FIELDS])
        _zero(self.refused_urls, refused_url_reasons())
        _zero(self.dead_letters, dead_letter_reasons())
        _zero(self.cache, ("hit", "miss"))
        _zero(self.images, image_outcomes())
        _zero(self.gc_pause, ("0", "1", "2"))


@dataclass
class PipelineStats:
    consumed: int = 0
    verdicts: int = 0
    flagged: int = 0
    #: Verdicts published with each degraded part (one verdict may count under several).
    degraded: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    batch_sizes: Counter[int] = field(default_factory=Counter)
    compute_s: float = 0.0
    cache_hits: int = 0
    cache_misses: int = 0
    #: Seconds spent in garbage collection, by generation.
    gc_pause_s: dict[int, float] = field(default_factory=dict)
    #: Image outcomes (``image_outcomes()``), one per image of every post, whatever its fate.
    images: Counter[str] = field(default_factory=Counter)
    #: Image URLs not fetched at all, by reason (``refused_url_reasons()``).
    refused_urls: Counter[str] = field(default_factory=Counter)
    #: Texts scored in several windows, and windows scored in all.
    windowed_texts: int = 0
    text_windows: int = 0
    publish_errors: int = 0
    rebalances: int = 0
    registry: CollectorRegistry = field(default_factory=CollectorRegistry, repr=False)

    def __post_init__(self) -> None:
        self._prom = _Prometheus(self.registry)

    def summary(self) -> str:
        dead = sum(self.dead_letters.values())
        return (
            f"consumed={self.consumed} verdicts={self.verdicts} flagged={self.flagged} "
            f"dead_letters={dead} degraded={sum(self.degraded.values())} batches={self.batches} "
            f"cache_hits={self.cache_hits} cache_misses={self.cache_misses}"
        )

    def on_consumed(self) -> None:
        self.consumed += 1
        self._prom.consumed.inc()

    def on_verdict(self, flagged: bool, latency_s: float | None, degraded: Sequence[str] = ()) -> None:
        self.verdicts += 1
        self._prom.verdicts.inc()
        for part in {degraded_part(entry) for entry in degraded}:
            self.degraded[part] += 1
            self._prom.degraded.labels(part).inc()
        if flagged:
            self.flagged += 1
            self._prom.flagged.inc()
        if latency_s is not None:
            self._prom.latency.observe(max(0.0, latency_s))

    def on_dead_letter(self, reason: str) -> None:
        self.dead_letters[reason] += 1
        self._prom.dead_letters.labels(reason).inc()

    def on_gc_pause(self, generation: int, seconds: float) -> None:
        self.gc_pause_s[generation] = self.gc_pause_s.get(generation, 0.0) + seconds
        self._prom.gc_pause.labels(str(generation)).observe(seconds)

    def on_batch(self, size: int, compute_s: float, waits_s: list[float]) -> None:
        self.batches += 1
        self.batch_sizes[size] += 1
        self.compute_s += compute_s
        self._prom.batch_size.observe(size)
        self._prom.batch_compute.observe(compute_s)
        for wait in waits_s:
            self._prom.batch_wait.observe(max(0.0, wait))

    def on_cache(self, hits: int, misses: int) -> None:
        self.cache_hits += hits
        self.cache_misses += misses
        self._prom.cache.labels("hit").inc(hits)
        self._prom.cache.labels("miss").inc(misses)

    def on_image(self, outcome: str) -> None:
        self.images[outcome] += 1
        self._prom.images.labels(outcome).inc()

    def on_images(self, slots: Iterable[ImageAttempt]) -> None:
        """One outcome per image: fetched (``ok``), known from the memo, or its error."""
        for slot in slots:
            if slot.error is not None:
                self.on_image(slot.error.kind)
                if isinstance(slot.error, RefusedURL):
                    self.refused_urls[slot.error.kind] += 1
                    self._prom.refused_urls.labels(slot.error.kind).inc()
            else:
                self.on_image("ok" if slot.image is not None else "memo")

    def on_text(self, windows: int) -> None:
        """A post's text was scored in ``windows`` windows (1 for a short text)."""
        self.text_windows += windows
        self._prom.text_windows.inc(windows)
        if windows > 1:
            self.windowed_texts += 1
            self._prom.windowed_texts.inc()

    def on_publish_error(self, retried: bool) -> None:
        self.publish_errors += 1
        self._prom.publish_errors.inc()
        if retried:
            self._prom.publish_retries.inc()

    def on_rebalance(self, assigned_partitions: int) -> None:
        self.rebalances += 1
        self._prom.rebalances.inc()
        self._prom.assigned.set(assigned_partitions)
        # Partitions that moved to another worker must not keep their last lag here:
        # summed over workers, they would count twice. The monitor sets the new ones.
        self._prom.lag.clear()

    def watch_in_flight(self, read: Callable[[], int]) -> None:
        """Read the in-flight count at each scrape (no bookkeeping on the hot path)."""
        self._prom.in_flight.set_function(read)

    def set_ready(self, ready: bool) -> None:
        self._prom.ready.set(1 if ready else 0)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        self._prom.lag.labels(topic, str(partition)).set(max(0, lag))

    def set_model(self, identity: dict[str, str]) -> None:
        self._prom.model.info(identity)
