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
from moderation_lab.embedded import EmbeddedRedis, ImageServer, KafkaBroker, broker_kinds, new_broker
from moderation_lab.errors import ServiceError

#: The embedded brokers every broker test runs on: both, unless LAB_BROKER
#: names one (``tansu`` or ``noida``).
BROKERS = broker_kinds()


def _unavailable(what: str, exc: BaseException) -> NoReturn:
    reason = f"{what} unavailable: {exc}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: integration tests must not be skipped)")
    pytest.skip(reason)


def started_broker(kind: str, workdir: Path) -> KafkaBroker:
    """A started embedded broker of ``kind``, or the test skipped (failed under CI)."""
    broker = new_broker(kind, workdir)
    try:
        broker.start()
    except ServiceError as exc:
        broker.stop()
        _unavailable(f"embedded Kafka broker ({kind})", exc)
    return broker


@pytest.fixture(scope="session", params=BROKERS)
def session_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker]:
    """An embedded broker for this session, once per broker kind (Tansu, noida-db)."""
    broker = started_broker(request.param, tmp_path_factory.mktemp(f"broker-{request.param}"))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def broker_url(session_broker: KafkaBroker) -> str:
    """``kafka://127.0.0.1:PORT`` of the session's embedded broker."""
    return session_broker.url


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


@pytest.fixture(params=BROKERS)
def fresh_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KafkaBroker]:
    """A started broker of this test's own, which the test may stop."""
    broker = started_broker(request.param, tmp_path / "broker")
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
