"""Scenario: inference slower than the consumer's session timeout.

Every model batch takes longer than ``session_timeout_s`` (see
:mod:`moderation_lab.reliability.slow_worker`). Because the model runs on its own thread
and the consumer's heartbeats on the event loop, the worker must stay in its group
the whole time (one join, no failed heartbeat), keep at most
``max_inflight_posts`` posts taken, and commit what it answered: a successor in the
same group must not answer any of those posts again.
"""

from __future__ import annotations

import asyncio
import sys
import time

from moderation_lab.embedded.kafka_io import produce
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import (
    Context,
    Outputs,
    Topics,
    answered,
    start_worker,
    text_posts,
    worker_settings,
)
from moderation_lab.reliability.slow_worker import DELAY_ENV

__all__ = ["SCORE_DELAY_S", "slow_inference"]

SCORE_DELAY_S = 4.0  # each batch; the embedded stack's session timeout is 3 s
SLOW_SETTINGS: dict[str, object] = {"max_batch": 8, "max_inflight_posts": 16}
SLOW_POSTS = 32


def _start_slow_worker(ctx: Context, topics: Topics) -> ChildProcess:
    env = ctx.stack.worker_env(**worker_settings(ctx, topics, **SLOW_SETTINGS))
    env[DELAY_ENV] = str(SCORE_DELAY_S)
    argv = [sys.executable, "-m", "moderation_lab.reliability.slow_worker"]
    child = ChildProcess(argv, ctx.stack.workdir / "slow-worker.log", env=env)
    child.start()
    return child


async def slow_inference(ctx: Context) -> Tally:
    started = time.monotonic()
    url, topics = ctx.stack.broker.url, Topics.fresh()
    await topics.create(url)
    posts, later = text_posts("slow", SLOW_POSTS), text_posts("slow-later", 4)
    keys, later_keys = {k.decode() for k, _ in posts}, {k.decode() for k, _ in later}
    slow = _start_slow_worker(ctx, topics)
    try:
        async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
            await produce(url, topics.posts, posts)
            await out.wait_for(answered(keys), 180, slow)
            exit_code = await asyncio.to_thread(slow.stop, 60.0)
            successor = start_worker(ctx, "slow-successor", topics)
            await produce(url, topics.posts, later)
            await out.wait_for(answered(later_keys), 120, successor)
            tally = Tally.count("slow inference", keys | later_keys, out.outcomes)
        await asyncio.to_thread(successor.stop, 30.0)
    finally:
        slow.stop(5.0)
    log = slow.log_path.read_text(errors="replace")
    joins, failed = log.count("Joined group"), log.count("Heartbeat failed")
    tally.check("one group join, no rebalance", joins == 1, f"{joins} joins")
    tally.check("no failed heartbeat", failed == 0, f"{failed} failed heartbeats")
    tally.check("exit code 0", exit_code == 0, f"exit code {exit_code}")
    tally.check("no post answered twice (commits kept)", tally.duplicates == 0, f"{tally.duplicates}")
    tally.notes.update(score_delay_s=SCORE_DELAY_S, session_timeout_s=3.0, **SLOW_SETTINGS)
    tally.seconds = time.monotonic() - started
    return tally
