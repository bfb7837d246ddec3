"""Where verdicts and dead letters are published, and only counted as done once acknowledged.

Example::

    publisher = FaustPublisher(app)
    await publisher.send("verdicts", key=b"p1", value=payload, headers={})
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiokafka.errors import BrokerResponseError

from worker.errors import PublishError

__all__ = ["FaustPublisher", "Publisher", "retriable", "send_with_retry"]

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Sends one record and returns once the broker acknowledged it."""

    async def send(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes]
    ) -> None: ...


class FaustPublisher:
    """Publishes through the faust app's producer (aiokafka underneath)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._topics: dict[str, Any] = {}

    def _topic(self, name: str) -> Any:
        if name not in self._topics:
            self._topics[name] = self._app.topic(name, key_serializer="raw", value_serializer="raw")
        return self._topics[name]

    async def send(self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes]) -> None:
        try:
            pending = await self._topic(topic).send(key=key, value=value, headers=dict(headers))
            await pending  # the broker's acknowledgement, not just the local buffer
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # aiokafka/faust errors of every kind end here
            raise PublishError(f"publishing to {topic!r} failed: {exc!r}", retriable(exc)) from exc


def retriable(exc: BaseException) -> bool:
    """Whether sending again may succeed, as the broker's answer says.

    Only a broker's error answer that aiokafka marks not retriable is final (a record
    too large, an authorization failure, an invalid topic). Anything else may pass: a
    timeout or a lost connection while the broker restarts, and errors we do not know.
    """
    if isinstance(exc, BrokerResponseError):
        return bool(exc.retriable)
    return True


async def send_with_retry(
    publisher: Publisher,
    topic: str,
    key: bytes | None,
    value: bytes,
    headers: Mapping[str, bytes],
    *,
    max_backoff_s: float = 5.0,
    on_error: Callable[[bool], None] | None = None,
) -> None:
    """Send until acknowledged, while the failure is retriable; a final refusal is
    raised (:class:`PublishError` with ``retriable`` false) for the caller to settle.

    ``on_error(retried)`` hears of every failed attempt (the publish-error metrics).
    """
    delay = 0.1
    while True:
        try:
            await publisher.send(topic, key, value, headers)
            return
        except PublishError as exc:
            if on_error is not None:
                on_error(exc.retriable)
            if not exc.retriable:
                raise
            log.warning("publish to %s failed, retrying in %.1fs: %s", topic, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_backoff_s)
