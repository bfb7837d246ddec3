"""Scenario: the hostile corpus through the real broker into a real worker.

Every record must end as the dead letter or the verdict (with per-image errors) the
corpus expects, the canary must see no connection, and the worker must still be
running and answering afterwards, then stop cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import time

from moderation_lab.embedded.kafka_io import produce
from moderation_lab.embedded.ports import LOOPBACK, free_port
from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.corpus import Case, build_corpus
from moderation_lab.reliability.harness import (
    Context,
    Outcome,
    Outputs,
    Topics,
    answered,
    start_worker,
    text_posts,
)

__all__ = ["HOSTILE_SETTINGS", "hostile_input"]

#: Fetch deadlines that cut the byte-a-second server off after seconds, not minutes, yet
#: leave a good image five times the slack it needs on a busy machine: the outcome of
#: every case is decided by what the server does (a 600-second drip, a 404), never by how
#: fast the machine is (with 2 s, a good image once timed out under load).
#: A 256 KiB post limit, so the oversize case stays under the broker's own record limit.
HOSTILE_SETTINGS: dict[str, object] = {
    "max_message_bytes": 262_144,
    "fetch_total_timeout_s": 10.0,
    "fetch_read_timeout_s": 5.0,
    "fetch_connect_timeout_s": 5.0,
}


def mismatch(case: Case, answers: list[Outcome]) -> str | None:
    """How the first answer to ``case`` differs from what the corpus expects, if it does."""
    if not answers:
        return f"{case.name}: no answer"
    got = answers[0]
    if case.dead_letter is not None:
        if got.kind != "dead_letter" or got.error_kind != case.dead_letter:
            return f"{case.name}: expected dead letter {case.dead_letter}, got {got.kind} {got.error_kind}"
        return None
    if got.kind != "verdict" or got.images != case.images:
        found = got.error_kind or list(got.images)
        return f"{case.name}: expected verdict {list(case.images)}, got {got.kind} {found}"
    if not set(case.modalities) <= set(got.modalities):
        return f"{case.name}: expected {list(case.modalities)} scored, got {list(got.modalities)}"
    if not set(case.degraded) <= set(got.degraded):
        return f"{case.name}: expected {list(case.degraded)} in degraded, got {list(got.degraded)}"
    return None


async def hostile_input(ctx: Context) -> Tally:
    started = time.monotonic()
    url = ctx.stack.broker.url
    closed = f"{LOOPBACK}:{free_port()}"  # allowed, but nothing listens: unreachable
    cases = build_corpus(ctx.hostile, ctx.canary.port, int(closed.rsplit(":", 1)[1]))
    topics = Topics.fresh()
    await topics.create(url)
    endpoints = json.dumps([*ctx.endpoints(), closed])
    after = text_posts("after-hostile", 2)
    keys = {case.post_id for case in cases}
    async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
        worker = start_worker(ctx, "hostile", topics, allow_private_endpoints=endpoints, **HOSTILE_SETTINGS)
        await produce(url, topics.posts, [(case.key, case.value) for case in cases])
        await out.wait_for(answered(keys), 120, worker)
        alive_after_corpus = worker.running()
        await produce(url, topics.posts, after)
        after_keys = {key.decode() for key, _ in after}
        await out.wait_for(answered(after_keys), 30, worker)
        tally = Tally.count("hostile input", keys | after_keys, out.outcomes)
        answers = out.by_key()
    exit_code = await asyncio.to_thread(worker.stop, 30.0)
    problems = [m for case in cases if (m := mismatch(case, answers.get(case.post_id, [])))]
    tally.check("every record got the expected outcome", not problems, "; ".join(problems[:8]))
    tally.check("worker kept running through the corpus", alive_after_corpus, worker.log_tail(5))
    tally.check("worker answered ordinary posts afterwards", tally.lost == 0)
    tally.check("worker exited 0 on SIGTERM", exit_code == 0, f"exit code {exit_code}")
    tally.notes["cases"] = len(cases)
    tally.seconds = time.monotonic() - started
    return tally
