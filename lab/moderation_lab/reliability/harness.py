"""What every scenario needs: its own topics, a reader of what the worker wrote, and
worker processes wired to the embedded stack.

The reader (:class:`Outputs`) assigns itself every partition instead of joining a
consumer group: on the embedded broker a group join costs seconds, and a scenario
that kills and restarts things would pay it again and again.

Example::

    topics = Topics.fresh()
    await topics.create(stack.broker.url)
    async with Outputs(stack.broker.url, topics) as out:
        worker = start_worker(ctx, "w1", topics)
        await out.wait_for(answered(keys), timeout_s=60, worker=worker)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from moderation_lab.embedded.kafka_io import committed_snapshot, create_topics
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.reliability.canary import Canary
from moderation_lab.reliability.hostile_server import HostileServer

__all__ = [
    "Context",
    "Outcome",
    "Outputs",
    "Topics",
    "answered",
    "start_member",
    "start_worker",
    "text_posts",
    "worker_settings",
]

PARTITIONS = 4


@dataclass(frozen=True)
class Topics:
    """Topic names and a consumer group of one scenario's own."""

    posts: str
    verdicts: str
    flagged: str
    dlq: str
    group: str

    @classmethod
    def fresh(cls) -> Topics:
        tag = uuid.uuid4().hex[:6]
        return cls(f"posts-{tag}", f"verdicts-{tag}", f"flagged-{tag}", f"dlq-{tag}", f"group-{tag}")

    def settings(self) -> dict[str, object]:
        return {
            "posts_topic": self.posts,
            "verdicts_topic": self.verdicts,
            "flagged_topic": self.flagged,
            "dlq_topic": self.dlq,
            "group_id": self.group,
        }

    async def create(self, url: str) -> None:
        await create_topics(url, [self.posts, self.verdicts, self.flagged, self.dlq], PARTITIONS)


@dataclass
class Context:
    """The running services a scenario may use (and, for faults, stop), and the
    processing guarantee its workers run under."""

    stack: EmbeddedStack
    hostile: HostileServer
    canary: Canary
    extra_endpoints: list[str] = field(default_factory=list)
    guarantee: str = "at_least_once"

    @property
    def exactly_once(self) -> bool:
        return self.guarantee == "exactly_once"

    def endpoints(self) -> list[str]:
        """The only non-public endpoints a worker may fetch from: the test image hosts."""
        image_server = self.stack.images.base_url.removeprefix("http://")
        return [image_server, self.hostile.endpoint, *self.extra_endpoints]


def worker_settings(ctx: Context, topics: Topics, **overrides: object) -> dict[str, object]:
    """Settings of a scenario's worker: loopback refused, except the test image hosts."""
    settings: dict[str, object] = {
        **topics.settings(),
        "allow_private_hosts": "false",
        "allow_private_endpoints": json.dumps(ctx.endpoints()),
        "log_format": "text",
    }
    if ctx.guarantee != "at_least_once":
        settings["processing_guarantee"] = ctx.guarantee
    return {**settings, **overrides}


def start_worker(ctx: Context, name: str, topics: Topics, **overrides: object) -> ChildProcess:
    """A real ``moderation-worker run`` process with :func:`worker_settings`."""
    return ctx.stack.start_worker(name, **worker_settings(ctx, topics, **overrides))


def start_member(ctx: Context, name: str, topics: Topics, instance: str, **overrides: object) -> ChildProcess:
    """:func:`start_worker` for a worker that is killed and replaced: ``instance`` names
    its place in the group across the kill and the restart.

    On a broker that never evicts a member that died without leaving (noida-db), the
    successor comes back under that static membership (``group_instance_id``), which
    replaces the dead member at once; elsewhere it joins as a new member.
    """
    if not ctx.stack.broker.evicts_dead_members:
        overrides.setdefault("group_instance_id", f"{topics.group}-{instance}")
    return start_worker(ctx, name, topics, **overrides)


def text_posts(
    prefix: str, count: int, images: list[str] | None = None, every: int = 3
) -> list[tuple[bytes, bytes]]:
    """``count`` ordinary posts keyed by id; one in ``every`` carries ``images``."""
    records = []
    for i in range(count):
        post_id = f"{prefix}-{i}"
        body = {
            "id": post_id,
            "text": f"post {i} of {prefix} about topic {i % 13}",
            "image_urls": images if images and i % every == 0 else [],
            "author_id": "author",
            "created_at": "2026-11-24T12:00:00Z",
        }
        records.append((post_id.encode(), json.dumps(body).encode()))
    return records


@dataclass(frozen=True)
class Outcome:
    """One verdict or dead letter, reduced to what the scenarios check."""

    kind: str  # "verdict" or "dead_letter"
    key: str
    error_kind: str | None = None
    images: tuple[str, ...] = ()  # "ok" or the error kind, per image
    modalities: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()
    cached_images: int = 0


def _outcome(kind: str, key: bytes | None, value: bytes) -> Outcome:
    data = json.loads(value)
    name = (key or b"").decode("utf-8", "replace")
    if kind == "dead_letter":
        return Outcome(kind, name, error_kind=data["error"]["kind"])
    images = data["images"]
    return Outcome(
        kind,
        name,
        images=tuple(i["status"] if i["status"] == "ok" else i["error"]["kind"] for i in images),
        modalities=tuple(data["modalities"]),
        degraded=tuple(data["degraded"]),
        cached_images=sum(1 for i in images if i.get("cached")),
    )


class Outputs:
    """Reads the verdict and dead-letter topics from the start, in the background."""

    def __init__(self, url: str, topics: Topics, *, read_committed: bool = False) -> None:
        """``read_committed``: only records of committed transactions, as an exactly-once
        consumer must read them; read by a fresh
        :func:`~moderation_lab.embedded.kafka_io.committed_snapshot` every 0.25 s (a
        long-lived read_committed consumer misses records on noida-db after a killed
        owner's transaction was aborted; see there)."""
        self._url = url
        self._read_committed = read_committed
        self._kinds = {topics.verdicts: "verdict", topics.dlq: "dead_letter"}
        self._consumer: AIOKafkaConsumer | None = None
        self.outcomes: list[Outcome] = []
        self._task: asyncio.Task[None] | None = None

    def by_key(self) -> dict[str, list[Outcome]]:
        table: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes:
            table.setdefault(outcome.key, []).append(outcome)
        return table

    def answered(self, keys: set[str]) -> int:
        """How many of ``keys`` have at least one verdict or dead letter."""
        return len(keys & {o.key for o in self.outcomes})

    async def _poll(self) -> None:
        if self._read_committed:
            while True:
                try:
                    records = await committed_snapshot(self._url, list(self._kinds))
                except (KafkaError, TimeoutError):  # the broker is down or restarting
                    await asyncio.sleep(0.5)
                    continue
                self.outcomes = [_outcome(self._kinds[r.topic], r.key, r.value) for r in records]
                await asyncio.sleep(0.25)
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for tp, messages in batches.items():
                kind = self._kinds[tp.topic]
                self.outcomes.extend(_outcome(kind, m.key, m.value) for m in messages)

    async def wait_for(
        self, done: Callable[[Outputs], bool], timeout_s: float, worker: ChildProcess | None = None
    ) -> bool:
        """Wait until ``done(self)`` holds; ``False`` when ``timeout_s`` passed first, or
        as soon as ``worker`` has exited (nothing more will come)."""
        deadline = time.monotonic() + timeout_s
        while not done(self):
            if time.monotonic() >= deadline or (worker is not None and not worker.running()):
                return False
            if self._task is not None and self._task.done():
                self._task.result()  # the reader died: raise its error
            await asyncio.sleep(0.05)
        return True

    async def __aenter__(self) -> Outputs:
        if self._read_committed:
            self._task = asyncio.create_task(self._poll(), name="outputs")
            return self
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._url.removeprefix("kafka://"),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        self._consumer.assign([TopicPartition(t, p) for t in self._kinds for p in range(PARTITIONS)])
        self._task = asyncio.create_task(self._poll(), name="outputs")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


def answered(keys: set[str], at_least: int | None = None) -> Callable[[Outputs], bool]:
    """A :meth:`Outputs.wait_for` condition: ``at_least`` of ``keys`` (default all) answered."""
    wanted = len(keys) if at_least is None else at_least
    return lambda outputs: outputs.answered(keys) >= wanted
