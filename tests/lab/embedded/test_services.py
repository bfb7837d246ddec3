"""The embedded services start, work, stop cleanly and leave no process behind."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from moderation_lab.embedded import EmbeddedBroker, EmbeddedRedis, tansu_group_overrides
from moderation_lab.embedded.ports import port_accepts
from moderation_lab.embedded.redis_server import redis_answers
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.errors import ServiceError

from worker.config.settings import Settings

pytestmark = pytest.mark.integration


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_broker_stops_cleanly_and_leaves_no_process(fresh_broker: EmbeddedBroker) -> None:
    pid, port = fresh_broker.pid, fresh_broker.port
    assert pid is not None and fresh_broker.url == f"kafka://127.0.0.1:{port}"
    started = time.monotonic()
    fresh_broker.stop()
    assert time.monotonic() - started < 5.0
    assert process_gone(pid)
    assert not port_accepts("127.0.0.1", port)
    fresh_broker.stop()  # idempotent


async def test_broker_round_trip(broker_url: str) -> None:
    bootstrap = Settings(broker=broker_url).bootstrap_servers
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(5):
            await producer.send_and_wait(topic, f"value-{i}".encode(), key=f"k{i}".encode())
    finally:
        await producer.stop()

    # No group: a manual assignment avoids Tansu's slow group joins.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        got: list[tuple[bytes | None, bytes | None]] = []
        while len(got) < 5:
            batch = await consumer.getmany(partition, timeout_ms=5000)
            assert batch, "no records within 5 s"
            got += [(r.key, r.value) for r in batch[partition]]
    finally:
        await consumer.stop()
    assert got == [(f"k{i}".encode(), f"value-{i}".encode()) for i in range(5)]


def test_broker_that_dies_reports_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'tansu: cannot bind' >&2\nexit 3\n")
    fake.chmod(0o755)
    broker = EmbeddedBroker(tmp_path / "logs", binary=fake, start_timeout_s=2.0)
    with pytest.raises(ServiceError, match="cannot bind"):
        broker.start()


def test_redis_starts_answers_and_stops(fresh_redis: EmbeddedRedis) -> None:
    pid, port = fresh_redis.pid, fresh_redis.port
    assert pid is not None and redis_answers("127.0.0.1", port)
    fresh_redis.stop()
    assert process_gone(pid)
    assert not port_accepts("127.0.0.1", port)


def test_missing_redis_server_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match="apt-get install redis-server"):
        EmbeddedRedis(tmp_path).start()


def test_tansu_overrides_name_real_settings() -> None:
    overrides = tansu_group_overrides()
    assert overrides == {
        "MODERATION_SESSION_TIMEOUT_S": "3",
        "MODERATION_HEARTBEAT_INTERVAL_S": "0.3",
        "MODERATION_REBALANCE_TIMEOUT_S": "3",
        "MODERATION_CONSUMER_FETCH_MAX_WAIT_MS": "20",
    }
    fields = {Settings.env_name(name): name for name in Settings.model_fields}
    assert set(overrides) <= set(fields)


def test_a_worker_setting_given_to_the_stack_wins_over_the_broker_timings(tmp_path: Path) -> None:
    models = {"text": tmp_path / "t", "image": tmp_path / "i", "clip": tmp_path / "c"}
    with EmbeddedStack(tmp_path, models=models) as stack:
        default = stack.worker_env()
        chosen = stack.worker_env(consumer_fetch_max_wait_ms=500, session_timeout_s=7)
    assert default["MODERATION_CONSUMER_FETCH_MAX_WAIT_MS"] == "20"
    assert default["MODERATION_SESSION_TIMEOUT_S"] == "3"
    assert chosen["MODERATION_CONSUMER_FETCH_MAX_WAIT_MS"] == "500"
    assert chosen["MODERATION_SESSION_TIMEOUT_S"] == "7"
    assert chosen["MODERATION_HEARTBEAT_INTERVAL_S"] == "0.3"
