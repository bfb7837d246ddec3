"""Which embedded Kafka-protocol broker to start: Tansu or noida-db.

Two independent implementations, so that the worker is tested against more than one
broker's reading of the protocol (and its quirks shape nothing in production). Only
noida-db has transactions, so the exactly-once tests run on it alone.

``LAB_BROKER`` chooses: ``tansu`` or ``noida`` for the demo, the bench and
the reliability runs (default ``tansu``); a comma-separated list, or ``all``, for the
test matrix and the reliability runs (the tests default to both).

Example::

    broker = new_broker("noida", workdir)
    url = broker.start()
"""

from __future__ import annotations

import os
from pathlib import Path

from moderation_lab.embedded.broker import EmbeddedBroker
from moderation_lab.embedded.noida import NoidaBroker
from moderation_lab.errors import ServiceError

__all__ = ["BROKER_ENV", "KINDS", "KafkaBroker", "broker_kinds", "default_kind", "new_broker"]

BROKER_ENV = "LAB_BROKER"
KINDS = ("tansu", "noida")
KafkaBroker = EmbeddedBroker | NoidaBroker


def _parse(value: str) -> tuple[str, ...]:
    if value.strip().lower() == "all":
        return KINDS
    kinds = tuple(k.strip().lower() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise ServiceError(f"{BROKER_ENV}={value!r}: choose from {', '.join(KINDS)} or 'all'")
    return kinds


def broker_kinds(default: str = "all") -> tuple[str, ...]:
    """The brokers ``LAB_BROKER`` names (``default`` when it is unset)."""
    return _parse(os.environ.get(BROKER_ENV) or default)


def default_kind() -> str:
    """The one broker of the demo and the bench: the first one named, else Tansu."""
    return broker_kinds("tansu")[0]


def new_broker(kind: str, workdir: Path | None = None) -> KafkaBroker:
    """An unstarted broker of ``kind`` keeping its log (and data) under ``workdir``."""
    if kind == "tansu":
        return EmbeddedBroker(workdir)
    if kind == "noida":
        return NoidaBroker(workdir)
    raise ServiceError(f"unknown embedded broker {kind!r}: choose from {', '.join(KINDS)}")
