"""Exactly-once on a broker with transactions (noida-db): each post answered once, as a
read_committed consumer sees it, across a SIGKILL; a fenced owner can never commit."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer
from moderation_lab.embedded.kafka_io import Record, collect, create_topics, produce
from moderation_lab.embedded.stack import EmbeddedStack

from tests.integration.test_worker import Topics, sample_posts, verdict_ids
from worker.config.settings import Settings
from worker.errors import PublishError
from worker.verdicts.transactions import Output, PartitionTransactions

pytestmark = pytest.mark.integration

EOS = {"processing_guarantee": "exactly_once"}


@pytest.fixture
def transactional(stack: EmbeddedStack) -> EmbeddedStack:
    if not stack.broker.transactions:
        pytest.skip(f"{stack.broker.kind} has no transactions (InitProducerId fails on it)")
    return stack


def answers(records: list[Record], topics: Topics) -> Counter[str]:
    """Verdicts and dead letters per post key."""
    return Counter((r.key or b"").decode() for r in records if r.topic in (topics.verdicts, topics.dlq))


def test_a_killed_exactly_once_worker_answers_each_post_once(transactional: EmbeddedStack) -> None:
    stack, topics = transactional, Topics()
    url = stack.broker.url
    asyncio.run(topics.create(url))
    posts = sample_posts(stack, 300, "x", slow=True)
    expected = {key.decode() for key, _ in posts}
    # The successor comes back under the victim's static membership (noida-db never
    # evicts a member that died without leaving).
    worker_settings = {**topics.settings(), **EOS, "group_instance_id": f"{topics.group}-w"}
    victim = stack.start_worker("eos-victim", max_inflight_posts=16, **worker_settings)
    asyncio.run(produce(url, topics.posts, posts))
    seen = asyncio.run(collect(url, [topics.verdicts], lambda got: len(got) >= 40, 120, read_committed=True))
    assert victim.pid is not None and len(seen) >= 40, victim.log_tail()
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(10)
    successor = stack.start_worker("eos-successor", **worker_settings)
    topics_read = [topics.verdicts, topics.dlq]
    records = asyncio.run(
        collect(url, topics_read, lambda got: expected <= set(answers(got, topics)), 180, read_committed=True)
    )
    assert successor.stop(timeout_s=30) == 0, successor.log_tail()
    counts = answers(records, topics)
    assert expected <= set(counts), f"lost {sorted(expected - set(counts))[:5]}"
    assert [key for key, n in counts.items() if n > 1] == []
    assert len(seen) < len(expected), "the kill came after the victim had finished"
    assert set(verdict_ids(records, topics.verdicts)) <= expected


async def _read_committed(url: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=url.removeprefix("kafka://"),
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
        return [m.value for messages in batches.values() for m in messages if m.value is not None]
    finally:
        await consumer.stop()


async def test_a_fenced_owner_cannot_commit_and_nothing_of_it_is_seen(transactional: EmbeddedStack) -> None:
    url = transactional.broker.url
    topics = Topics()
    await create_topics(url, [topics.posts, topics.verdicts], partitions=1)
    settings = Settings(broker=url, group_id=topics.group)
    failures: list[PublishError] = []
    zombie = PartitionTransactions(settings, on_failure=failures.append)
    owner = PartitionTransactions(settings, on_failure=lambda exc: pytest.fail(f"owner failed: {exc}"))
    partition = (topics.posts, 0)
    try:
        await zombie.assign([partition])
        zombie.stage(partition, 0, [Output(topics.verdicts, b"p0", b"from the zombie")])
        await owner.assign([partition])  # the same transactional id: the zombie is fenced
        owner.stage(partition, 0, [Output(topics.verdicts, b"p0", b"from the owner")])
        assert await zombie.commit({partition: 1}) is False
        assert await owner.commit({partition: 1}) is True
    finally:
        await owner.close()
        await zombie.close()
    assert len(failures) == 1
    assert await _read_committed(url, topics.verdicts) == [b"from the owner"]
