"""The hostile corpus through the real broker into a real worker process.

Invalid JSON, wrong types, huge ids and texts, thousands of URLs, javascript:, file:,
data: and gopher: URLs, invalid UTF-8, every SSRF spelling (and redirects to them),
broken and oversized images, a body that drips a byte a second, 404s and 500s: each
unreadable record must end as the expected dead letter, each readable one as a verdict
with its text scored and what was not used named, the worker must keep running, and the
canary on loopback must see no connection at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.reliability.canary import Canary
from moderation_lab.reliability.harness import Context
from moderation_lab.reliability.hostile_server import HostileServer
from moderation_lab.reliability.scenario_hostile import hostile_input

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hostile_context(stack: EmbeddedStack) -> Iterator[Context]:
    with HostileServer() as hostile, Canary() as canary:
        canary.self_test()  # it counts: a leak could not go unnoticed
        yield Context(stack, hostile, canary)


async def test_hostile_corpus_ends_as_dead_letters_and_verdicts_and_never_reaches_the_canary(
    hostile_context: Context,
) -> None:
    canary = hostile_context.canary
    tally = await hostile_input(hostile_context)
    assert canary.connections == 0, f"blocked URLs reached the canary from {canary.peers}"
    assert tally.lost == 0
    assert not tally.failed, "\n".join(f"{c.name}: {c.detail}" for c in tally.failed)
    # Only the unreadable records are dead letters; forbidden or too many image URLs and a
    # 200 000-character text get verdicts with their text scored (checked case by case).
    assert tally.dead_letters >= 15 and tally.verdicts >= 30
    # The byte-a-second server was cut off by the deadline, not waited out.
    assert hostile_context.hostile.hits("/drip") == 1
