"""Kafka and Redis credentials and TLS: parsed from the environment, and reaching the clients."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError
from redis.asyncio.connection import SSLConnection

from worker.config.credentials import kafka_credentials
from worker.config.settings import Settings
from worker.consume.app import _faust_app
from worker.inference.cache import EmbeddingCache


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_plaintext_needs_no_credentials() -> None:
    assert kafka_credentials(Settings()) is None
    assert credentials_to_aiokafka_auth(None) == {"security_protocol": "PLAINTEXT"}


async def test_sasl_ssl_from_the_environment_reaches_the_kafka_client(
    monkeypatch: pytest.MonkeyPatch, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    for name, value in {
        "MODERATION_BROKER": "kafka://b1:9093;b2:9093",
        "MODERATION_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "MODERATION_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "MODERATION_KAFKA_SASL_USERNAME": "moderator",
        "MODERATION_KAFKA_SASL_PASSWORD": "s3cret",
        "MODERATION_KAFKA_SSL_CAFILE": str(cert),
        "MODERATION_KAFKA_SSL_CERTFILE": str(cert),
        "MODERATION_KAFKA_SSL_KEYFILE": str(key),
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert "s3cret" not in repr(settings)
    app = _faust_app(settings)
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("moderator", "s3cret")
    assert isinstance(auth["ssl_context"], ssl.SSLContext)
    assert auth["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    # aiokafka itself accepts the arguments (it checks their consistency when built).
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, **auth)
    assert producer.client._sasl_mechanism == "SCRAM-SHA-512"
    assert producer.client._security_protocol == "SASL_SSL"


def test_ssl_only_uses_a_verifying_context(tls_files: tuple[Path, Path]) -> None:
    cert, _ = tls_files
    credentials = kafka_credentials(Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=cert))
    auth = credentials_to_aiokafka_auth(credentials)
    assert auth["security_protocol"] == "SSL" and auth["ssl_context"].check_hostname


@pytest.mark.parametrize(
    "fields",
    [
        {"kafka_security_protocol": "SASL_PLAINTEXT"},
        {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "u"},
        {"kafka_ssl_certfile": "/tmp/only-a-cert.pem"},
        {"kafka_sasl_mechanism": "GSSAPI"},
        {"kafka_security_protocol": "TLS"},
    ],
)
def test_incomplete_or_unknown_security_settings_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Settings(**fields)  # type: ignore[arg-type]


async def test_redis_credentials_and_tls_reach_the_redis_client(tls_files: tuple[Path, Path]) -> None:
    cert, _ = tls_files
    settings = Settings(
        redis_url="rediss://cache-user:url-pass@redis.internal:6380/2",  # type: ignore[arg-type]
        redis_ssl_cafile=cert,
    )
    assert "url-pass" not in repr(settings)
    cache = EmbeddingCache.from_settings(settings)
    pool = cache._client.connection_pool
    assert pool.connection_class is SSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.internal", 6380, 2)
    assert (kwargs["username"], kwargs["password"]) == ("cache-user", "url-pass")
    assert kwargs["ssl_ca_certs"] == str(cert)
    await cache.aclose()


async def test_a_separate_redis_password_is_used() -> None:
    settings = Settings(redis_password="pw-from-env")  # type: ignore[arg-type]
    cache = EmbeddingCache.from_settings(settings)
    assert cache._client.connection_pool.connection_kwargs["password"] == "pw-from-env"
    await cache.aclose()
