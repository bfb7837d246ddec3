"""The real worker process against the real broker, Redis and an HTTP image server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import uuid
from collections import Counter
from pathlib import Path

import jsonschema
import pytest
from moderation_lab.demo.data import invalid_records
from moderation_lab.embedded.kafka_io import Record, collect, create_topics, produce
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.schemas import schema_dir

from worker.names import VERDICT_SCHEMA_VERSION

pytestmark = pytest.mark.integration

VERDICT_SCHEMA = f"verdict.v{VERDICT_SCHEMA_VERSION}.json"


class Topics:
    """Topic names and a group of this test's own, so tests sharing a broker never meet."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.posts, self.verdicts = f"posts-{tag}", f"verdicts-{tag}"
        self.flagged, self.dlq, self.group = f"flagged-{tag}", f"dlq-{tag}", f"group-{tag}"

    def settings(self) -> dict[str, object]:
        return {
            "posts_topic": self.posts,
            "verdicts_topic": self.verdicts,
            "flagged_topic": self.flagged,
            "dlq_topic": self.dlq,
            "group_id": self.group,
        }

    async def create(self, url: str) -> None:
        await create_topics(url, [self.posts, self.verdicts, self.flagged, self.dlq], partitions=4)


def post(post_id: str, text: str, images: list[str], **extra: object) -> bytes:
    body = {
        "id": post_id,
        "text": text,
        "image_urls": images,
        "author_id": "author",
        "created_at": "2026-11-20T12:00:00+00:00",
        **extra,
    }
    return json.dumps(body).encode()


def sample_posts(stack: EmbeddedStack, n: int, prefix: str, slow: bool = False) -> list[tuple[bytes, bytes]]:
    stack.add_images(["/images/a.png", "/images/b.jpg"])
    first = "/slow/images/a.png?delay=0.3" if slow else "/images/a.png"
    out = []
    for i in range(n):
        images = [stack.images.url(first)] if i % 3 == 0 else []
        if i % 7 == 0:
            images.append(stack.images.url("/images/b.jpg"))
        extra: dict[str, object] = {}
        if i % 5 == 1:
            extra["reference"] = {"relation": "reply", "id": f"{prefix}-{i - 1}"}
        elif i % 5 == 2:
            extra["reference"] = {"relation": "quote", "id": "x", "text": f"quoted {i}", "image_urls": images}
        key = f"{prefix}-{i}"
        out.append((key.encode(), post(key, f"post number {i} about topic {i % 11}", images, **extra)))
    return out


def verdict_ids(records: list[Record], topic: str) -> Counter[str]:
    return Counter(json.loads(r.value)["post_id"] for r in records if r.topic == topic)


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((schema_dir() / name).read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def stopped_stats(log: Path) -> str:
    lines = [line for line in log.read_text().splitlines() if "pipeline stopped:" in line]
    assert lines, f"no shutdown summary in {log}"
    return lines[-1]


def consumed(log: Path) -> int:
    return int(stopped_stats(log).split("consumed=")[1].split()[0])


def test_500_posts_each_get_a_schema_valid_verdict_and_bad_ones_a_dead_letter(stack: EmbeddedStack) -> None:
    topics = Topics()
    url = stack.broker.url
    asyncio.run(topics.create(url))
    posts = sample_posts(stack, 500, "p")
    bad = [(s.key, s.value) for s in invalid_records()]
    # A plain aiokafka producer, not the worker's code, writes the input.
    asyncio.run(produce(url, topics.posts, posts + bad))
    worker = stack.start_worker("w-500", max_message_bytes=65_536, **topics.settings())
    expected = {key.decode() for key, _ in posts}

    def answered(records: list[Record]) -> bool:
        dead = sum(1 for r in records if r.topic == topics.dlq)
        return expected <= set(verdict_ids(records, topics.verdicts)) and dead >= len(bad)

    records = asyncio.run(collect(url, [topics.verdicts, topics.dlq, topics.flagged], answered, 180))
    assert worker.stop(timeout_s=30) == 0, worker.log_tail()
    ids = verdict_ids(records, topics.verdicts)
    assert expected <= set(ids), f"missing {sorted(expected - set(ids))[:5]}\n{worker.log_tail()}"
    verdicts = validator(VERDICT_SCHEMA)
    for record in records:
        if record.topic == topics.verdicts:
            verdict = json.loads(record.value)
            verdicts.validate(verdict)
            assert record.key == verdict["post_id"].encode()
            assert verdict["source"]["topic"] == topics.posts
    dead_letters = [json.loads(r.value) for r in records if r.topic == topics.dlq]
    assert len(dead_letters) == len(bad)
    for letter in dead_letters:
        validator("dead_letter.v1.json").validate(letter)
    kinds = Counter(letter["error"]["kind"] for letter in dead_letters)
    assert kinds["invalid_json"] == 2 and kinds["oversize"] == 1 and kinds["schema_violation"] == 7
    by_id = {
        json.loads(r.value)["post_id"]: json.loads(r.value) for r in records if r.topic == topics.verdicts
    }
    assert by_id["p-1"]["entailment"]["status"] == "scored"  # referenced by id, seen via Redis
    assert by_id["p-2"]["entailment"]["status"] == "scored"  # inline reference
    assert by_id["p-0"]["modalities"] == ["text", "image"] and by_id["p-0"]["clip"] is not None
    assert by_id["p-4"]["modalities"] == ["text"] and by_id["p-4"]["clip"] is None
    assert consumed(worker.log_path) >= 500 + len(bad)


def test_two_workers_in_one_group_share_the_partitions(stack: EmbeddedStack) -> None:
    topics = Topics()
    url = stack.broker.url
    asyncio.run(topics.create(url))

    # noida-db drops a member slow to rejoin (one still starting up, on a busy machine)
    # and then hangs every later join: static members keep their place there.
    def member(name: str) -> dict[str, str]:
        return {} if stack.broker.evicts_dead_members else {"group_instance_id": f"{topics.group}-{name}"}

    first = stack.start_worker("w-a", **topics.settings(), **member("a"))
    second = stack.start_worker("w-b", **topics.settings(), **member("b"))
    posts = sample_posts(stack, 300, "g")
    asyncio.run(produce(url, topics.posts, posts))
    expected = {key.decode() for key, _ in posts}
    records = asyncio.run(
        collect(url, [topics.verdicts], lambda got: expected <= set(verdict_ids(got, topics.verdicts)), 180)
    )
    assert first.stop(timeout_s=30) == 0 and second.stop(timeout_s=30) == 0
    assert expected <= set(verdict_ids(records, topics.verdicts))
    counts = consumed(first.log_path), consumed(second.log_path)
    assert all(count > 0 for count in counts), f"one worker got no partition: {counts}"
    assert sum(counts) >= len(posts)


def test_a_killed_worker_is_replaced_without_losing_a_post(stack: EmbeddedStack) -> None:
    topics = Topics()
    url = stack.broker.url
    asyncio.run(topics.create(url))
    # Slow images and few posts in flight keep the victim busy for several seconds.
    posts = sample_posts(stack, 400, "r", slow=True)
    expected = {key.decode() for key, _ in posts}
    # noida-db never evicts a member that died without leaving: the successor comes back
    # under the victim's static membership, which replaces it (Kafka evicts either way).
    static = {} if stack.broker.evicts_dead_members else {"group_instance_id": "w-victim"}
    victim = stack.start_worker("w-victim", max_inflight_posts=16, **topics.settings(), **static)
    asyncio.run(produce(url, topics.posts, posts))
    # Kill it hard once it has answered part of the stream.
    asyncio.run(collect(url, [topics.verdicts], lambda got: len(got) >= 60, 120))
    assert victim.pid is not None
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    successor = stack.start_worker("w-successor", **topics.settings(), **static)
    records = asyncio.run(
        collect(url, [topics.verdicts], lambda got: expected <= set(verdict_ids(got, topics.verdicts)), 180)
    )
    assert successor.stop(timeout_s=30) == 0
    assert consumed(successor.log_path) > 0, "the kill came after the victim had finished"
    ids = verdict_ids(records, topics.verdicts)
    assert expected <= set(ids), f"lost {sorted(expected - set(ids))[:5]}"
    duplicates = sum(count - 1 for count in ids.values())
    print(f"posts={len(posts)} verdicts={sum(ids.values())} duplicates={duplicates}")


async def test_a_post_from_a_plain_kafka_client_yields_a_schema_valid_verdict(stack: EmbeddedStack) -> None:
    """Nothing of the project's on the client side: aiokafka producer and consumer only."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    topics = Topics()
    servers = stack.broker.url.removeprefix("kafka://")
    await topics.create(stack.broker.url)
    worker = stack.start_worker("w-plain", **topics.settings())
    body = {
        "id": "plain-1",
        "text": "A post written by some other service.",
        "image_urls": [stack.images.url("/images/a.png")],
        "author_id": "someone",
        "created_at": "2026-11-24T09:30:00Z",
    }
    stack.add_images(["/images/a.png"])
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await producer.start()
    try:
        await producer.send_and_wait(topics.posts, json.dumps(body).encode(), key=b"plain-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topics.verdicts,
        bootstrap_servers=servers,
        group_id="plain-reader",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=300,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=120)
    finally:
        await consumer.stop()
    assert worker.stop(timeout_s=30) == 0
    assert message.key == b"plain-1"
    verdict = json.loads(message.value)
    validator(VERDICT_SCHEMA).validate(verdict)
    assert verdict["post_id"] == "plain-1" and verdict["images"][0]["status"] == "ok"
