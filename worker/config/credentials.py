"""Where credentials and TLS settings become the Kafka and Redis clients' arguments.

Example::

    faust.App(..., broker_credentials=kafka_credentials(settings))
    AIOKafkaProducer(acks="all", **aiokafka_kwargs(settings))
    redis.asyncio.Redis.from_url(url, **redis_tls_kwargs(settings))
"""

from __future__ import annotations

import ssl
from typing import Any

import faust

from worker.config.settings import Settings

__all__ = ["aiokafka_kwargs", "kafka_credentials", "kafka_ssl_context", "redis_tls_kwargs"]


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the brokers (system CAs, or ``kafka_ssl_cafile``); client cert for mutual TLS."""
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
        context.load_cert_chain(str(settings.kafka_ssl_certfile), str(settings.kafka_ssl_keyfile))
    return context


def aiokafka_kwargs(settings: Settings) -> dict[str, Any]:
    """aiokafka client arguments: bootstrap servers, TLS and SASL from ``settings``."""
    protocol = settings.kafka_security_protocol
    kwargs: dict[str, Any] = {
        "bootstrap_servers": ",".join(settings.bootstrap_servers),
        "security_protocol": protocol,
    }
    if protocol in ("SSL", "SASL_SSL"):
        kwargs["ssl_context"] = kafka_ssl_context(settings)
    if protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = password.get_secret_value() if password else None
    return kwargs


def kafka_credentials(settings: Settings) -> Any:
    """faust ``broker_credentials`` for the configured protocol (``None`` for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(kafka_ssl_context(settings))
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password is not None else None,
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=kafka_ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


def redis_tls_kwargs(settings: Settings) -> dict[str, Any]:
    """Extra ``Redis.from_url`` arguments: a password and CA file given apart from the URL."""
    kwargs: dict[str, Any] = {}
    if settings.redis_password is not None:
        kwargs["password"] = settings.redis_password.get_secret_value()
    if settings.redis_ssl_cafile is not None:
        kwargs["ssl_ca_certs"] = str(settings.redis_ssl_cafile)
    return kwargs
