"""Consumer-group timings for the embedded Tansu broker ONLY. Never use in production.

This is a workaround for a Tansu/aiokafka mismatch, not a tuning. Tansu holds a group
join for about half the session timeout and numbers the first generation 0; aiokafka
sends no LeaveGroup at generation 0, so the next member to join waits out the whole
session timeout of the one that left (18 s with default settings). Short timeouts
bring a worker up on the embedded broker in about 4 s.

Tansu also holds a fetch for the consumer's whole ``fetch.max.wait.ms`` when the
consumer owns several partitions, even after a record arrived; a short wait keeps
that out of every post's latency (Kafka answers at once; see worker/consume/kafka_app.py).

Against a real Kafka cluster these values would make consumers drop out of their
group at the first GC pause or slow batch and rebalance constantly, which is why they
live here, applied only by the demo and the tests that start an
:class:`~moderation_lab.embedded.broker.EmbeddedBroker`.

Example::

    env = {**os.environ, **tansu_group_overrides()}
    subprocess.run(["moderation-worker", "run"], env=env)
"""

from __future__ import annotations

from worker.config.settings import Settings

__all__ = ["tansu_group_overrides"]


def tansu_group_overrides() -> dict[str, str]:
    """``MODERATION_*`` environment overrides for running against the embedded broker."""
    return {
        Settings.env_name("session_timeout_s"): "3",
        Settings.env_name("heartbeat_interval_s"): "0.3",
        Settings.env_name("rebalance_timeout_s"): "3",
        Settings.env_name("consumer_fetch_max_wait_ms"): "20",
    }
