"""End-to-end measurements: a real worker process between the embedded broker, Redis
and the image server, timed by Kafka's own timestamps (post in, verdict out).

Example::

    async with VerdictWatcher(url, "verdicts") as watcher:
        result = await run_backlog(url, posts, watcher)
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "StreamResult",
    "VerdictWatcher",
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
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class VerdictWatcher:
    """Reads the verdict topic in the background: post id -> verdict timestamp (ms)."""

    def __init__(self, url: str, topic: str, *, read_committed: bool = False) -> None:
        """``read_committed``: seen when its transaction commits, timed on arrival here
        (a transactional record's own timestamp predates its commit)."""
        self._servers = url.removeprefix("kafka://")
        self._topic = topic
        self._read_committed = read_committed
        self.seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> VerdictWatcher:
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._servers,
            group_id=None,
            auto_offset_reset="earliest",
            isolation_level="read_committed" if self._read_committed else "read_uncommitted",
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self._consumer is not None
        async for message in self._consumer:
            if message.key is not None:
                at = int(time.time() * 1000) if self._read_committed else message.timestamp
                self.seen.setdefault(message.key.decode(), at)

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
