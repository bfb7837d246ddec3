"""The faust app, with the consumer's fetch wait under the worker's control.

A Kafka fetch names every partition the consumer owns and a longest wait
(``fetch.max.wait.ms``): the broker answers as soon as it has data for any of
them, or when the wait is over. faust builds its aiokafka consumer with a fixed
1500 ms wait and no setting to change it. Apache Kafka answers early, so the
value only paces idle fetches; but a broker that holds the fetch for the whole
wait while the consumer owns several partitions (the embedded Tansu does:
measured, a record produced to one of four partitions reached a consumer after
a median 715 ms with a 1500 ms wait, 3 ms with a 50 ms wait) adds that wait to
every post's latency. :class:`ModerationApp` passes ``consumer_fetch_max_wait_ms``
instead.

aiokafka reads the wait from the consumer when it starts, as the private
``_fetch_max_wait_ms``; faust gives no other way in. :func:`set_fetch_max_wait`
refuses (rather than silently doing nothing) if a new aiokafka renames it, and
``tests/test_kafka_transport.py`` checks that the started fetcher uses it.

Example::

    app = ModerationApp("moderation", broker="kafka://localhost:9092", fetch_max_wait_ms=100)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as driver

from worker.errors import ConfigError

__all__ = ["ModerationApp", "OffsetCommitter", "set_fetch_max_wait"]

#: ``{(topic, partition): next offset} -> committed?``
OffsetCommitter = Callable[[Mapping[tuple[str, int], int]], Awaitable[bool]]

_ATTRIBUTE = "_fetch_max_wait_ms"


def set_fetch_max_wait(consumer: Any, wait_ms: int) -> None:
    """Set an unstarted ``aiokafka.AIOKafkaConsumer``'s fetch wait."""
    if not isinstance(getattr(consumer, _ATTRIBUTE, None), int):
        raise ConfigError(
            f"this aiokafka ({aiokafka.__version__}) keeps no {_ATTRIBUTE}: "
            "the consumer fetch wait cannot be set"
        )
    setattr(consumer, _ATTRIBUTE, wait_ms)


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        app = self.app
        assert isinstance(app, ModerationApp), "only ModerationApp builds this consumer"
        set_fetch_max_wait(consumer, app.fetch_max_wait_ms)
        if app.offset_committer is not None:
            # Exactly-once reads only committed input too (faust does the same in its
            # own exactly_once mode, which we do not use: see worker.verdicts.transactions).
            consumer._isolation_level = "read_committed"
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _commit(self, offsets: Mapping[Any, int]) -> bool:
        # faust decides when and up to which offsets (acked in order) to commit; under
        # exactly-once the offsets go into each partition's transaction instead.
        app = self.app
        assert isinstance(app, ModerationApp), "only ModerationApp builds this consumer"
        if app.offset_committer is None:
            committed: bool = await super()._commit(offsets)
            return committed
        return await app.offset_committer({(tp.topic, tp.partition): n for tp, n in offsets.items()})


class _Transport(driver.Transport):
    Consumer = _Consumer


class ModerationApp(faust.App):
    """``faust.App`` whose Kafka consumer waits at most ``fetch_max_wait_ms`` per fetch."""

    def __init__(
        self,
        *args: Any,
        fetch_max_wait_ms: int = 500,
        offset_committer: OffsetCommitter | None = None,
        **kwargs: Any,
    ) -> None:
        """``offset_committer``: commits consumed offsets in place of the consumer
        (exactly-once: with each partition's transaction)."""
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.offset_committer = offset_committer
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
