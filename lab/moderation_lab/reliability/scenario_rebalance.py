"""Scenario: a second worker joins mid-stream, and the group rebalances its partitions.

The first worker finishes and commits what it took before giving partitions up
(faust waits for in-flight records on a revocation); the second starts from those
commits. Under exactly-once not a single post may be answered twice.
"""

from __future__ import annotations

import asyncio
import json
import re
import time

from moderation_lab.embedded.kafka_io import produce
from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import Context, Outputs, Topics, answered, start_member, text_posts

__all__ = ["rebalance"]

REBALANCE_POSTS = 800
#: Every post waits this long for its image, 16 at a time: the stream lasts about 25 s,
#: long enough for the second worker to start and join (seconds on Tansu) mid-stream.
IMAGE_DELAY_S = 0.5
INFLIGHT = 16


def _with_image(key: bytes, value: bytes, url: str) -> tuple[bytes, bytes]:
    """The post with one image of its own URL: no cache or memo shortens its wait."""
    return key, json.dumps({**json.loads(value), "image_urls": [url]}).encode()


def _consumed(log_text: str) -> int:
    found = re.findall(r"pipeline stopped: consumed=(\d+)", log_text)
    return int(found[-1]) if found else 0


async def rebalance(ctx: Context) -> Tally:
    started = time.monotonic()
    url, topics = ctx.stack.broker.url, Topics.fresh()
    await topics.create(url)
    ctx.stack.add_images(["/rebalance/a.png"])
    slow = ctx.stack.images.url(f"/slow/rebalance/a.png?delay={IMAGE_DELAY_S}")
    posts = [
        _with_image(key, value, f"{slow}&n={i}")
        for i, (key, value) in enumerate(text_posts("rebalance", REBALANCE_POSTS))
    ]
    keys = {key.decode() for key, _ in posts}
    async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
        # Static members: noida-db drops a member that is slow to rejoin (busy finishing its
        # posts) and then never lets anyone join again; a static member keeps its place.
        first = start_member(ctx, "rebalance-first", topics, "first", max_inflight_posts=INFLIGHT)
        await produce(url, topics.posts, posts)
        progressed = await out.wait_for(answered(keys, REBALANCE_POSTS // 10), 120, first)
        before_join = out.answered(keys)
        second = start_member(ctx, "rebalance-second", topics, "second", max_inflight_posts=INFLIGHT)
        await out.wait_for(answered(keys), 240, second)
        tally = Tally.count("rebalance", keys, out.outcomes)
    # Both at once: one leaving first would start a rebalance the other is stopped in.
    codes = list(await asyncio.gather(*(asyncio.to_thread(w.stop, 30.0) for w in (first, second))))
    shares = [_consumed(w.log_path.read_text(errors="replace")) for w in (first, second)]
    tally.check("second worker joined mid-stream", progressed and before_join < len(keys), f"{before_join}")
    tally.check("both workers answered posts", all(n > 0 for n in shares), f"consumed {shares}")
    tally.check("both exited 0 on SIGTERM", codes == [0, 0], f"exit codes {codes}")
    if ctx.exactly_once:
        tally.check("nothing answered twice", tally.duplicates == 0, f"{tally.duplicates}")
    tally.notes.update(consumed_by_each=shares, answered_before_join=before_join)
    tally.seconds = time.monotonic() - started
    return tally
