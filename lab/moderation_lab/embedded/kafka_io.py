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
from aiokafka.structs import TopicPartition

__all__ = ["Record", "collect", "committed_snapshot", "create_topics", "produce"]

# One fetch carries a whole partition of a test's topic, abort markers included (see
# committed_snapshot).
_SNAPSHOT_FETCH_BYTES = 256 << 20


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


async def committed_snapshot(url: str, topics: Sequence[str]) -> list[Record]:
    """Every committed record of ``topics`` now, read from the start by a fresh consumer.

    Why not one long-lived read_committed consumer: noida-db lists, in each fetch
    answer, aborted transactions that ended *before* the fetched offset. A consumer that
    has passed a transaction aborted by fencing (a killed exactly-once owner's) therefore
    drops every later batch of that producer id, which the next owner of the same
    ``transactional.id`` keeps (aiokafka and the Java client filter alike). A fetch that
    starts at offset 0 and carries the partition to its last stable offset sees the
    abort marker in the same answer, so it is right on noida-db and on Apache Kafka.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=_servers(url),
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_partition_fetch_bytes=_SNAPSHOT_FETCH_BYTES,
        fetch_max_bytes=_SNAPSHOT_FETCH_BYTES,
    )
    await consumer.start()
    got: list[Record] = []
    try:
        await consumer.topics()  # fetches the cluster's metadata
        partitions = [
            TopicPartition(topic, number)
            for topic in topics
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)  # the last stable offsets
        left = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + 30.0
        while left:
            if time.monotonic() > deadline:
                raise TimeoutError(f"committed records of {sorted(map(str, left))} not read in 30 s")
            batches = await consumer.getmany(*left, timeout_ms=500)
            for messages in batches.values():
                got.extend(
                    Record(m.topic, m.partition, m.offset, m.timestamp, m.key, m.value) for m in messages
                )
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return got


async def collect(
    url: str,
    topics: Sequence[str],
    until: Callable[[list[Record]], bool],
    timeout_s: float,
    *,
    read_committed: bool = False,
) -> list[Record]:
    """Read ``topics`` from the beginning until ``until(records)`` holds or time runs out;
    ``read_committed``: only records of committed transactions, from a fresh
    :func:`committed_snapshot` every half second."""
    deadline = time.monotonic() + timeout_s
    if read_committed:
        while True:
            got = await committed_snapshot(url, topics)
            if until(got) or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(0.5)
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=_servers(url),
        group_id=f"collector-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=300,
    )
    await consumer.start()
    got = []
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
