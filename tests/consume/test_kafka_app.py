"""The consumer fetch wait reaches the aiokafka consumer faust builds for the worker."""

from __future__ import annotations

import aiokafka
import pytest

from worker.config.settings import Settings
from worker.consume.app import _faust_app
from worker.consume.kafka_app import ModerationApp, set_fetch_max_wait
from worker.errors import ConfigError


async def _fetch_wait_of_worker_consumer(settings: Settings) -> int:
    """The fetch wait of the (unstarted) consumer faust builds for the worker's app."""
    app = _faust_app(settings)
    assert isinstance(app, ModerationApp)
    thread = app.consumer._new_consumer_thread()
    consumer: aiokafka.AIOKafkaConsumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._enable_auto_commit is False  # faust's own configuration is kept
        wait: int = consumer._fetch_max_wait_ms
        return wait
    finally:
        # Closed here: an unclosed consumer's __del__ running inside a later compile()
        # trips CPython 3.11's "AST constructor recursion depth mismatch".
        await consumer.stop()


async def _offset_reset_of_worker_consumer(settings: Settings) -> str:
    app = _faust_app(settings)
    consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
    try:
        reset: str = consumer._auto_offset_reset
        return reset
    finally:
        await consumer.stop()


@pytest.mark.parametrize("where", ["earliest", "latest"])
async def test_where_a_new_group_starts_is_the_setting(where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODERATION_AUTO_OFFSET_RESET", where)
    settings = Settings(broker="kafka://127.0.0.1:9")
    assert settings.auto_offset_reset == where
    assert await _offset_reset_of_worker_consumer(settings) == where


def test_a_new_group_starts_at_the_earliest_retained_post_by_default() -> None:
    assert Settings().auto_offset_reset == "earliest"


async def test_the_worker_app_passes_the_setting_to_its_consumer() -> None:
    settings = Settings(broker="kafka://127.0.0.1:9", consumer_fetch_max_wait_ms=20)
    assert await _fetch_wait_of_worker_consumer(settings) == 20


async def test_the_default_is_aiokafkas_not_fausts_1500() -> None:
    assert await _fetch_wait_of_worker_consumer(Settings(broker="kafka://127.0.0.1:9")) == 500


@pytest.mark.integration
async def test_the_started_fetcher_uses_the_wait(broker_url: str) -> None:
    consumer = aiokafka.AIOKafkaConsumer(
        "fetch-wait", bootstrap_servers=broker_url.removeprefix("kafka://"), group_id=None
    )
    set_fetch_max_wait(consumer, 25)
    await consumer.start()
    try:
        assert consumer._fetcher._fetch_max_wait_ms == 25
    finally:
        await consumer.stop()


def test_an_aiokafka_without_the_attribute_is_refused() -> None:
    with pytest.raises(ConfigError, match="_fetch_max_wait_ms"):
        set_fetch_max_wait(object(), 25)


def test_the_setting_is_bounded() -> None:
    with pytest.raises(ValueError):
        Settings(consumer_fetch_max_wait_ms=-1)


@pytest.mark.parametrize(("guarantee", "isolation"), [(None, "read_uncommitted"), ("eos", "read_committed")])
async def test_exactly_once_reads_only_committed_posts(guarantee: str | None, isolation: str) -> None:
    from worker.verdicts.transactions import PartitionTransactions

    settings = Settings(broker="kafka://127.0.0.1:9")
    transactions = PartitionTransactions(settings, on_failure=lambda exc: None) if guarantee else None
    app = _faust_app(settings, transactions)
    consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
    try:
        assert consumer._isolation_level == isolation
    finally:
        await consumer.stop()
