"""Publishing: whether a failed send is worth retrying comes from its cause."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
)

from tests.support.fakes import FakePublisher
from worker.errors import PublishError
from worker.verdicts.publish import FaustPublisher, send_with_retry


class _Topic:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def send(self, **kwargs: Any) -> Any:
        raise self.exc


class _App:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def topic(self, name: str, **kwargs: Any) -> _Topic:
        return _Topic(self.exc)


@pytest.mark.parametrize(
    ("cause", "retriable"),
    [
        (MessageSizeTooLargeError(), False),
        (TopicAuthorizationFailedError(), False),
        (NotLeaderForPartitionError(), True),
        (KafkaConnectionError(), True),
        # aiokafka marks its own timeout not retriable; for us it is a broker away for now.
        (KafkaTimeoutError(), True),
        (RuntimeError("unknown"), True),
    ],
)
async def test_retriable_follows_the_cause(cause: BaseException, retriable: bool) -> None:
    publisher = FaustPublisher(_App(cause))
    with pytest.raises(PublishError) as raised:
        await publisher.send("verdicts", b"k", b"{}", {})
    assert raised.value.retriable is retriable
    assert raised.value.__cause__ is cause
    assert type(cause).__name__ in str(raised.value)


async def test_a_final_refusal_is_not_retried() -> None:
    publisher = FakePublisher(refuse=("verdicts",))
    with pytest.raises(PublishError) as raised:
        await asyncio.wait_for(send_with_retry(publisher, "verdicts", b"k", b"{}", {}), timeout=5)
    assert not raised.value.retriable and publisher.attempts == 1


async def test_a_passing_failure_is_retried_until_acknowledged() -> None:
    publisher = FakePublisher(fail_first=3)
    await send_with_retry(publisher, "verdicts", b"k", b'{"a": 1}', {}, max_backoff_s=0.01)
    assert publisher.attempts == 4 and publisher.on("verdicts") == [{"a": 1}]
