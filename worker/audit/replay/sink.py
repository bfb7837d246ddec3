"""The pipeline's publisher during a replay: verdicts out in replay order, counted.

The live pipeline publishes each verdict as soon as its post is scored, so verdicts
leave it in completion order. A replay writes them in the order it read the posts
(the order of :meth:`ReplaySink.expect`), holding back those that finish early (at
most the pipeline's in-flight limit), so the same range always gives the same file.
Flagged copies are dropped: the verdict itself says ``flagged``.

Example::

    sink = ReplaySink(output)
    pipeline = Pipeline(replay_settings, scorer, fetcher, None, sink)
    sink.expect(record); await pipeline.submit(record, ack)
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping

from worker.audit.errors import ReplayError
from worker.audit.replay.isolation import DEAD_LETTERS, FLAGGED, VERDICTS
from worker.audit.replay.outputs import Kind, Output
from worker.audit.replay.summary import ReplayTally

__all__ = ["ReplaySink"]

_KINDS: dict[str, Kind] = {VERDICTS: "verdict", DEAD_LETTERS: "dead_letter"}


class ReplaySink:
    """A :class:`~worker.verdicts.publish.Publisher` that writes to an :class:`Output` in order."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.tally = ReplayTally()
        self.error: ReplayError | None = None
        self._order: deque[tuple[int, int]] = deque()
        self._ready: dict[tuple[int, int], tuple[Kind, bytes | None, bytes]] = {}
        self._lock = asyncio.Lock()

    def expect(self, partition: int, offset: int) -> None:
        """The next record handed to the pipeline; its answer is written after those before it."""
        self._order.append((partition, offset))

    @property
    def held(self) -> int:
        return len(self._ready)

    async def send(self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, bytes]) -> None:
        if topic == FLAGGED:
            return
        if topic not in _KINDS:
            raise ReplayError(f"a replay publishes nowhere but its output, not to {topic!r}")
        source = json.loads(value)["source"]
        self._ready[(source["partition"], source["offset"])] = (_KINDS[topic], key, value)
        async with self._lock:
            while self._order and self._order[0] in self._ready and self.error is None:
                kind, key_, value_ = self._ready.pop(self._order.popleft())
                self.tally.add(kind, value_)
                try:
                    await self.output.write(kind, key_, value_)
                except ReplayError as exc:
                    # Kept for the driver, which stops the replay; raising here would
                    # only leave the record unacknowledged and the pipeline waiting.
                    self.error = exc
