"""The worker's Kafka clients against Apache Kafka 4.0's request versions.

No Kafka 4.0 broker can run here, so a proxy (:mod:`moderation_lab.kafka4`) stands in
front of the embedded broker: it answers ApiVersions with 4.0's ranges, so the clients
pick the versions they would pick against 4.0, and it closes the connection on any
request 4.0 refuses (KIP-896 removed old versions of twelve APIs). Everything the worker
does with Kafka goes through it: the topic admin calls, the consumer group, the
producers (the transactional one on noida-db, which has transactions), and the test's
own producer and reader.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from moderation_lab.embedded.kafka_io import Record, collect, create_topics, produce
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.kafka4 import KAFKA_4_0, Kafka4Proxy

from tests.integration.test_operations import wait_ready
from tests.integration.test_worker import Topics, sample_posts, verdict_ids

pytestmark = pytest.mark.integration

# What must have gone through the proxy for the run to mean something.
CONSUMER_GROUP = {"JoinGroup", "SyncGroup", "Heartbeat", "OffsetFetch", "Fetch", "FindCoordinator"}
TRANSACTIONS = {"InitProducerId", "AddPartitionsToTxn", "TxnOffsetCommit", "EndTxn"}


@pytest.fixture
def proxy(stack: EmbeddedStack) -> Iterator[Kafka4Proxy]:
    with Kafka4Proxy(stack.broker.url) as running:
        yield running


def test_the_worker_runs_on_kafka_4_0s_request_versions(stack: EmbeddedStack, proxy: Kafka4Proxy) -> None:
    topics = Topics()
    settings = topics.settings()
    if stack.broker.transactions:
        settings |= {"processing_guarantee": "exactly_once", "group_instance_id": f"{topics.group}-k4"}
    # The input topic by the lab's admin client; the worker declares its output topics itself.
    asyncio.run(create_topics(proxy.url, [topics.posts], partitions=4))
    port = free_port()
    worker = stack.start_worker("w-kafka4", broker=proxy.url, web_port=port, **settings)
    wait_ready(port, timeout_s=90)
    posts = sample_posts(stack, 40, "k4")
    asyncio.run(produce(proxy.url, topics.posts, posts))
    expected = {key.decode() for key, _ in posts}

    def answered(records: list[Record]) -> bool:
        return expected <= set(verdict_ids(records, topics.verdicts))

    records = asyncio.run(
        collect(proxy.url, [topics.verdicts], answered, 120, read_committed=stack.broker.transactions)
    )
    assert worker.stop(timeout_s=30) == 0, worker.log_tail()
    assert expected <= set(verdict_ids(records, topics.verdicts)), worker.log_tail()
    assert proxy.rejections == [], proxy.rejections
    assert proxy.unrewritten == {}, "answers naming brokers went back unrewritten"
    seen = {KAFKA_4_0[key].name for key, _ in proxy.requests}
    wanted = CONSUMER_GROUP | {"CreateTopics", "Produce", "Metadata", "ApiVersions"}
    if stack.broker.transactions:
        wanted |= TRANSACTIONS
    assert wanted <= seen, f"never went through the proxy: {sorted(wanted - seen)}"
    versions = {(KAFKA_4_0[key].name, version) for key, version in proxy.requests}
    print(f"{stack.broker.kind}: requests through the Kafka 4.0 proxy: {sorted(versions)}")
