"""End-to-end measurements: a real worker process between the embedded broker, Redis
and the image server, timed by Kafka's own timestamps (post in, verdict out).

Example::

    async with VerdictWatcher(url, "verdicts") as watcher:
        result = await run_backlog(url, posts, watcher)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from moderation_lab.embedded.kafka_io import committed_snapshot

__all__ = [
    "StreamResult",
    "VerdictWatcher",
    "latency_parts",
    "median",
    "process_memory_mb",
    "produce_paced",
    "result",
    "scrape",
]


@dataclass(frozen=True)
class StreamResult:
    posts: int
    seconds: float
    latencies_ms: list[float]

    @property
    def posts_per_s(self) -> float:
        return self.posts / self.seconds

    def percentile(self, q: float) -> float:
        return _quantile(self.latencies_ms, q)


class VerdictWatcher:
    """Reads the verdict topic in the background: post id -> verdict timestamp (ms), and
    post id -> the verdict's own ``timings`` (where the worker's time went)."""

    def __init__(self, url: str, topic: str, *, read_committed: bool = False) -> None:
        """``read_committed``: seen when its transaction commits, timed on arrival here
        (a transactional record's own timestamp predates its commit); read by a fresh
        :func:`~moderation_lab.embedded.kafka_io.committed_snapshot` every 0.2 s, since a
        long-lived read_committed consumer misses records on noida-db after a fenced
        owner's transaction was aborted (see there)."""
        self._servers = url.removeprefix("kafka://")
        self._topic = topic
        self._read_committed = read_committed
        self.seen: dict[str, int] = {}
        self.timings: dict[str, dict[str, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> VerdictWatcher:
        if self._read_committed:
            self._task = asyncio.create_task(self._poll_committed())
            return self
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._servers,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._consumer is not None
        async for message in self._consumer:
            if message.key is not None:
                key = message.key.decode()
                self.seen.setdefault(key, message.timestamp)
                timings = _timings(message.value)
                if timings is not None:
                    self.timings.setdefault(key, timings)

    async def _poll_committed(self) -> None:
        url = f"kafka://{self._servers}"
        while True:
            records = await committed_snapshot(url, [self._topic])
            at = int(time.time() * 1000)
            for record in records:
                if record.key is not None:
                    self.seen.setdefault(record.key.decode(), at)
            await asyncio.sleep(0.2)

    async def wait_for(self, ids: Sequence[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not all(i in self.seen for i in ids):
            if time.monotonic() > deadline:
                missing = [i for i in ids if i not in self.seen]
                raise TimeoutError(f"{len(missing)} posts unanswered after {timeout_s}s")
            await asyncio.sleep(0.1)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


async def produce_paced(
    url: str, topic: str, records: Sequence[tuple[str, bytes]], rate: float | None
) -> dict[str, int]:
    """Send records (all at once, or ``rate`` per second); returns id -> post timestamp."""
    producer = AIOKafkaProducer(bootstrap_servers=url.removeprefix("kafka://"), linger_ms=5)
    await producer.start()
    sent: dict[str, int] = {}
    try:
        started = time.monotonic()
        pending = []
        for index, (post_id, value) in enumerate(records):
            if rate is not None:
                await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            pending.append((post_id, await producer.send(topic, value, key=post_id.encode())))
        for post_id, future in pending:
            sent[post_id] = (await future).timestamp
    finally:
        await producer.stop()
    return sent


def _timings(value: bytes | None) -> dict[str, float] | None:
    """A verdict's ``timings`` (a dead letter has none)."""
    try:
        timings = json.loads(value or b"").get("timings")
    except (ValueError, AttributeError):
        return None
    return timings if isinstance(timings, dict) else None


def latency_parts(
    sent: dict[str, int], seen: dict[str, int], timings: dict[str, dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Where each post's latency went, from its verdict's timings: ``batch`` (the compute
    of the batch it ran in), ``wait`` (for the batch in progress when it was ready, and
    any batching wait), and ``outside`` (everything else: Kafka to the worker and back,
    fetching and decoding its images, publishing). p50 and p99 of each, over posts."""
    parts: dict[str, list[float]] = {"batch": [], "wait": [], "outside": []}
    for post, at in sent.items():
        t = timings.get(post)
        if t is None or post not in seen:
            continue
        wait = max(0.0, t["queue_ms"] - t["fetch_ms"])
        parts["batch"].append(t["inference_ms"])
        parts["wait"].append(wait)
        parts["outside"].append(max(0.0, seen[post] - at - wait - t["inference_ms"]))
    return {name: {"p50": _quantile(v, 0.5), "p99": _quantile(v, 0.99)} for name, v in parts.items()}


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def result(sent: dict[str, int], seen: dict[str, int]) -> StreamResult:
    latencies = [float(seen[i] - t) for i, t in sent.items()]
    span_ms = max(seen[i] for i in sent) - min(sent.values())
    return StreamResult(len(sent), max(span_ms, 1) / 1000, latencies)


def scrape(port: int) -> dict[str, float]:
    """The worker's metrics, ``name{label="v"}`` -> value."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def process_memory_mb(pid: int) -> dict[str, float]:
    """Resident and peak resident memory of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
