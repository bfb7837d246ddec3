"""Plain aiokafka helpers for the demo and the tests: create topics, produce, collect.

These deliberately bypass the worker's own code: what they produce and read is what
any other Kafka client would.

Example::

    await create_topics(url, ["posts", "verdicts"], partitions=4)
    await produce(url, "posts", [(b"p1", b"{...}")])
    records = await collect(url, ["verdicts"], until=lambda got: len(got) >= 1, timeout_s=60)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

__all__ = ["Record", "collect", "create_topics", "produce"]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes


def _servers(url: str) -> str:
    return url.removeprefix("kafka://").replace(";", ",")


async def create_topics(url: str, names: Iterable[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=_servers(url))
    await admin.start()
    try:
        for name in names:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def produce(
    url: str, topic: str, records: Sequence[tuple[bytes | None, bytes]], max_request_size: int = 4 << 20
) -> list[tuple[int, int]]:
    """Send records and wait for every acknowledgement; returns (partition, offset) of each."""
    producer = AIOKafkaProducer(
        bootstrap_servers=_servers(url), max_request_size=max_request_size, acks="all"
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in records]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return [(m.partition, m.offset) for m in metadata]


async def collect(
    url: str,
    topics: Sequence[str],
    until: Callable[[list[Record]], bool],
    timeout_s: float,
    *,
    read_committed: bool = False,
) -> list[Record]:
    """Read ``topics`` from the beginning until ``until(records)`` holds or time runs out;
    ``read_committed``: only records of committed transactions."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=_servers(url),
        group_id=f"collector-{uuid.uuid4().hex[:8]}",
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=300,
    )
    await consumer.start()
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not until(got) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for messages in batches.values():
                got.extend(
                    Record(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value) for m in messages
                )
    finally:
        await consumer.stop()
    return got
