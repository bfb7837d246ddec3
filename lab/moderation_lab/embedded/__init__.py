"""Services the demo and the integration tests start on this machine.

Each one runs on a free loopback port, is stopped by ``stop()`` or its ``with``
block, and never outlives the Python process (see :mod:`moderation_lab.embedded.process`).

Example::

    with new_broker("noida") as broker, EmbeddedRedis() as redis, ImageServer() as images:
        images.add_samples()
        settings = Settings(broker=broker.url, redis_url=redis.url, allow_private_hosts=True)

None of this is used by the worker in production.
"""

from __future__ import annotations

from moderation_lab.embedded.broker import EmbeddedBroker, find_tansu
from moderation_lab.embedded.brokers import KafkaBroker, broker_kinds, default_kind, new_broker
from moderation_lab.embedded.image_server import ImageServer, sample_images
from moderation_lab.embedded.noida import NoidaBroker, find_noida
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.prometheus import EmbeddedPrometheus
from moderation_lab.embedded.redis_server import EmbeddedRedis
from moderation_lab.embedded.tansu import tansu_group_overrides

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPrometheus",
    "EmbeddedRedis",
    "ImageServer",
    "KafkaBroker",
    "NoidaBroker",
    "broker_kinds",
    "default_kind",
    "find_noida",
    "find_tansu",
    "free_port",
    "new_broker",
    "sample_images",
    "tansu_group_overrides",
]
