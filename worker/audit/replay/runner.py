"""Where a replay runs: plan the range, read it in order, score it with the live
pipeline, write the verdicts in order.

The posts go through :class:`worker.pipeline.Pipeline`, the very code the live worker
runs, so a replayed verdict is what the live worker would write with the same model
and settings; only the input (a plain consumer outside any group, stopping at the end
of the range) and the output (:mod:`worker.audit.replay.outputs`) differ. The pipeline's
acks, in offset order per partition, say when every post in range is answered.

Example::

    result = await run_replay(settings, scorer, "posts", RangeRequest(), JsonlOutput(path))
    result.tally.verdicts
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Protocol

from worker.audit.errors import ReplayError
from worker.audit.replay.isolation import replay_pipeline_settings
from worker.audit.replay.kafka import KafkaLog
from worker.audit.replay.outputs import Output
from worker.audit.replay.planning import Plan, plan_ranges
from worker.audit.replay.ranges import RangeRequest
from worker.audit.replay.sink import ReplaySink
from worker.audit.replay.summary import ReplayTally
from worker.config.settings import Settings
from worker.fetch.client import ImageFetcher
from worker.messages import ModelIdentity
from worker.model.types import Scorer
from worker.pipeline import Pipeline

__all__ = ["Observer", "ReplayResult", "run_replay"]

#: A replay with no post answered for this long is stuck, not slow.
IDLE_LIMIT_S = 300.0


class Observer(Protocol):
    """Told what the replay will read, then how many posts are answered."""

    def planned(self, plan: Plan) -> None: ...

    def answered(self, count: int) -> None: ...


class _Silent:
    def planned(self, plan: Plan) -> None:
        pass

    def answered(self, count: int) -> None:
        pass


@dataclass(frozen=True)
class ReplayResult:
    plan: Plan
    tally: ReplayTally
    identity: ModelIdentity
    seconds: float


class _Answers:
    """Counts the pipeline's acks; one per post, verdict or dead letter."""

    def __init__(self, observer: Observer) -> None:
        self.submitted = 0
        self.count = 0
        self.changed = asyncio.Event()
        self._observer = observer

    def ack(self) -> None:
        self.count += 1
        self._observer.answered(self.count)
        self.changed.set()


async def run_replay(
    settings: Settings,
    scorer: Scorer,
    topic: str,
    request: RangeRequest,
    output: Output,
    observer: Observer | None = None,
) -> ReplayResult:
    """Replay ``request`` of ``topic`` with ``scorer`` and ``settings`` into ``output``."""
    observer = observer or _Silent()
    started = time.monotonic()
    async with KafkaLog(settings, topic) as log:
        plan = await plan_ranges(log, request)
        observer.planned(plan)
        pipeline_settings = replay_pipeline_settings(settings, topic)
        fetcher = ImageFetcher(pipeline_settings.fetch)
        sink = ReplaySink(output)
        pipeline = Pipeline(pipeline_settings, scorer, fetcher, None, sink)
        await output.open()
        try:
            await pipeline.start()
            await _drive(log, plan, pipeline, sink, _Answers(observer))
        finally:
            await pipeline.stop()
            await fetcher.aclose()
            await output.close()
    return ReplayResult(plan, sink.tally, pipeline.identity, time.monotonic() - started)


async def _drive(log: KafkaLog, plan: Plan, pipeline: Pipeline, sink: ReplaySink, answers: _Answers) -> None:
    async for record in log.records(plan.ranges):
        _raise_if_failed(sink)
        sink.expect(record.partition, record.offset)
        await pipeline.submit(record, ack=answers.ack)
        answers.submitted += 1
    last, since = answers.count, time.monotonic()
    while answers.count < answers.submitted:
        _raise_if_failed(sink)
        answers.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(answers.changed.wait(), timeout=1.0)
        if answers.count != last:
            last, since = answers.count, time.monotonic()
        elif time.monotonic() - since > IDLE_LIMIT_S:
            missing = answers.submitted - answers.count
            raise ReplayError(f"{missing} posts still unanswered after {IDLE_LIMIT_S:.0f}s without progress")
    _raise_if_failed(sink)


def _raise_if_failed(sink: ReplaySink) -> None:
    if sink.error is not None:
        raise sink.error
