"""Checking the worker's Kafka clients against Apache Kafka 4.0's request versions,
without a Kafka 4.0 broker: a proxy in front of an embedded broker that answers
ApiVersions with 4.0's ranges and refuses what 4.0 refuses.

::

    versions   the table: what 4.0 accepts per API key, and where it comes from
    wire       frames, request headers, the ApiVersions answer, Produce's acks
    rewrite    broker addresses in Metadata / FindCoordinator answers -> the proxy
    proxy      the proxy itself (asyncio, in a thread)

Example::

    with Kafka4Proxy(broker.url) as proxy:
        worker = stack.start_worker("w", broker=proxy.url)
"""

from __future__ import annotations

from moderation_lab.kafka4.proxy import Kafka4Proxy, Rejection
from moderation_lab.kafka4.versions import KAFKA_4_0, KAFKA_4_0_SOURCE, ApiRange

__all__ = ["KAFKA_4_0", "KAFKA_4_0_SOURCE", "ApiRange", "Kafka4Proxy", "Rejection"]
