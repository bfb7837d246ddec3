"""Scenarios: the worker process dies (SIGKILL) or is asked to stop (SIGTERM).

* ``sigkill``: a few thousand posts; the worker is killed outright three times while
  it works, and a new one started each time. Every post must end with at least one
  verdict; re-deliveries (at-least-once) are counted as duplicates.
* ``sigterm``: the worker is stopped while posts are in flight. It must finish,
  publish and commit what it took, then exit 0 within a bound; a successor starting
  from the committed offsets must answer the rest without repeating a single post.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time

from moderation_lab.embedded.kafka_io import produce
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import Context, Outputs, Topics, answered, start_member, text_posts

__all__ = ["SIGTERM_EXIT_BOUND_S", "sigkill", "sigterm"]

SIGKILL_POSTS = 3000
KILL_AT = (0.15, 0.4, 0.65)  # fractions of the posts answered when each kill comes
SIGTERM_POSTS = 400
#: How long a SIGTERMed worker may take to finish its in-flight posts and exit.
SIGTERM_EXIT_BOUND_S = 30.0


async def _kill(worker: ChildProcess) -> None:
    assert worker.pid is not None
    os.killpg(worker.pid, signal.SIGKILL)
    await asyncio.to_thread(worker.wait, 10.0)


async def sigkill(ctx: Context) -> Tally:
    started = time.monotonic()
    url, topics = ctx.stack.broker.url, Topics.fresh()
    await topics.create(url)
    ctx.stack.add_images(["/kill/a.png", "/kill/b.jpg"])
    posts = text_posts("kill", SIGKILL_POSTS, [ctx.stack.images.url("/kill/a.png")])
    keys = {key.decode() for key, _ in posts}
    answered_at_kill: list[int] = []
    progressed: list[bool] = []
    async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
        worker = start_member(ctx, "kill-0", topics, "kill")
        await produce(url, topics.posts, posts)
        for round_, fraction in enumerate(KILL_AT, start=1):
            target = int(fraction * len(keys))
            progressed.append(await out.wait_for(answered(keys, target), 120, worker))
            answered_at_kill.append(out.answered(keys))
            await _kill(worker)
            worker = start_member(ctx, f"kill-{round_}", topics, "kill")
        await out.wait_for(answered(keys), 180, worker)
        tally = Tally.count("sigkill x3", keys, out.outcomes)
    exit_code = await asyncio.to_thread(worker.stop, 30.0)
    mid_stream = all(n < len(keys) for n in answered_at_kill)
    detail = f"answered at each kill: {answered_at_kill}"
    tally.check("three kills, each mid-stream", len(answered_at_kill) == 3 and mid_stream, detail)
    tally.check("each worker made progress before its kill", all(progressed), f"{progressed}")
    tally.check("last worker exited 0 on SIGTERM", exit_code == 0, f"exit code {exit_code}")
    if ctx.exactly_once:
        tally.check("nothing answered twice", tally.duplicates == 0, f"{tally.duplicates}")
    tally.notes["answered_at_each_kill"] = answered_at_kill
    tally.seconds = time.monotonic() - started
    return tally


def shutdown_summary(log_text: str) -> dict[str, int]:
    """The counters of the worker's last ``pipeline stopped:`` line."""
    lines = [line for line in log_text.splitlines() if "pipeline stopped:" in line]
    if not lines:
        return {}
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", lines[-1])}


async def sigterm(ctx: Context) -> Tally:
    started = time.monotonic()
    url, topics = ctx.stack.broker.url, Topics.fresh()
    await topics.create(url)
    ctx.stack.add_images(["/term/a.png"])
    # Slow images keep posts in flight when the signal comes.
    slow = ctx.stack.images.url("/slow/term/a.png?delay=0.4")
    posts = text_posts("term", SIGTERM_POSTS, [slow])
    keys = {key.decode() for key, _ in posts}
    async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
        first = start_member(ctx, "term-first", topics, "term", max_inflight_posts=64)
        await produce(url, topics.posts, posts)
        await out.wait_for(answered(keys, 60), 120, first)
        signalled = time.monotonic()
        exit_code = await asyncio.to_thread(first.stop, SIGTERM_EXIT_BOUND_S + 30.0)
        exit_s = time.monotonic() - signalled
        await asyncio.sleep(1.0)  # let the reader catch up with what the first one published
        by_first = out.answered(keys)
        summary = shutdown_summary(first.log_path.read_text(errors="replace"))
        successor = start_member(ctx, "term-successor", topics, "term")
        await out.wait_for(answered(keys), 180, successor)
        tally = Tally.count("sigterm", keys, out.outcomes)
    await asyncio.to_thread(successor.stop, 30.0)
    finished = summary.get("verdicts", -1) + summary.get("dead_letters", 0)
    tally.check("exit code 0", exit_code == 0, f"exit code {exit_code}")
    tally.check(
        f"exited within {SIGTERM_EXIT_BOUND_S:.0f}s", exit_s <= SIGTERM_EXIT_BOUND_S, f"{exit_s:.1f}s"
    )
    tally.check("signalled mid-stream", by_first < len(keys), f"{by_first} of {len(keys)} answered")
    taken = summary.get("consumed")
    tally.check("every post it took was answered before exit", taken == finished, f"summary {summary}")
    tally.check("nothing answered twice (offsets committed)", tally.duplicates == 0, f"{tally.duplicates}")
    tally.notes.update(exit_seconds=round(exit_s, 2), answered_by_first=by_first, first_summary=summary)
    tally.seconds = time.monotonic() - started
    return tally
