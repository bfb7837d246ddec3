"""Inference slower than the session timeout, in a real worker process (the reliability
scenario): the worker stays in its group, commits what it answered, and exits 0."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.reliability.canary import Canary
from moderation_lab.reliability.harness import Context
from moderation_lab.reliability.hostile_server import HostileServer
from moderation_lab.reliability.scenario_slow import slow_inference

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def context(stack: EmbeddedStack) -> Iterator[Context]:
    with HostileServer() as hostile, Canary() as canary:
        yield Context(stack, hostile, canary)


async def test_a_model_slower_than_the_session_timeout_keeps_its_partitions(context: Context) -> None:
    tally = await slow_inference(context)
    assert not tally.failed, "\n".join(f"{c.name}: {c.detail}" for c in tally.failed)
    assert tally.lost == 0 and tally.duplicates == 0
    assert tally.verdicts == tally.posts_sent
