"""Scenarios: a service the worker depends on goes away mid-stream.

* ``redis_outage``: Redis stops; verdicts keep coming, marked
  ``degraded: ["cache_unavailable"]``; Redis returns on the same port and caching
  resumes (embeddings are written, then read back as cache hits).
* ``image_host_down``: image URLs point at a host that refuses connections or never
  answers; every post still gets a verdict from its text, marked
  ``images_unavailable``, within the fetch deadline.
* ``broker_restart``: the broker is restarted on the same port (Tansu comes back
  empty, noida-db with its log and offsets); the same worker process reconnects and
  answers every post the broker holds.
"""

from __future__ import annotations

import asyncio
import json
import time

import redis

from moderation_lab.embedded.kafka_io import produce
from moderation_lab.embedded.ports import LOOPBACK, free_port
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import (
    Context,
    Outcome,
    Outputs,
    Topics,
    answered,
    start_worker,
    text_posts,
)

__all__ = ["broker_restart", "image_host_down", "redis_outage"]

PHASE_POSTS = 60
#: All posts of the dead image host answered within this (24 of them wait 2 s each,
#: 8 at a time for that host).
STALL_BOUND_S = 20.0
#: Short fetch deadlines for the outage: a dead image host costs seconds, not minutes.
OUTAGE_SETTINGS: dict[str, object] = {"fetch_total_timeout_s": 2.0, "fetch_connect_timeout_s": 1.0}


def _keys(records: list[tuple[bytes, bytes]]) -> set[str]:
    return {key.decode() for key, _ in records}


def _verdicts(out: Outputs, keys: set[str]) -> list[Outcome]:
    return [o for o in out.outcomes if o.key in keys and o.kind == "verdict"]


def _renamed(records: list[tuple[bytes, bytes]], prefix: str) -> list[tuple[bytes, bytes]]:
    """The same posts (text and images) under new ids: their embeddings are cached."""
    renamed = []
    for i, (_, value) in enumerate(records):
        body = {**json.loads(value), "id": f"{prefix}-{i}"}
        renamed.append((f"{prefix}-{i}".encode(), json.dumps(body).encode()))
    return renamed


def _degraded(out: Outputs, records: list[tuple[bytes, bytes]]) -> int:
    """Verdicts for ``records`` that ran without the cache."""
    return sum("cache_unavailable" in o.degraded for o in _verdicts(out, _keys(records)))


async def _phase(
    out: Outputs, url: str, topic: str, records: list[tuple[bytes, bytes]], worker: ChildProcess
) -> float:
    """Produce ``records`` and wait until each is answered; returns the seconds taken."""
    started = time.monotonic()
    await produce(url, topic, records)
    await out.wait_for(answered(_keys(records)), 90, worker)
    return time.monotonic() - started


async def redis_outage(ctx: Context) -> Tally:
    started = time.monotonic()
    url, topics, server = ctx.stack.broker.url, Topics.fresh(), ctx.stack.redis
    await topics.create(url)
    ctx.stack.add_images(["/redis/a.png", "/redis/b.jpg"])
    up = text_posts("redis-up", PHASE_POSTS, [ctx.stack.images.url("/redis/a.png")])
    down = text_posts("redis-down", PHASE_POSTS, [ctx.stack.images.url("/redis/a.png")])
    back = text_posts("redis-back", PHASE_POSTS, [ctx.stack.images.url("/redis/b.jpg")])
    again = _renamed(back, "redis-again")
    worker = start_worker(ctx, "redis-outage", topics)
    async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
        await _phase(out, url, topics.posts, up, worker)
        port = server.port
        await asyncio.to_thread(server.stop)
        down_s = await _phase(out, url, topics.posts, down, worker)
        await asyncio.to_thread(server.start, port=port)
        await _phase(out, url, topics.posts, back, worker)
        await _phase(out, url, topics.posts, again, worker)
        tally = Tally.count("redis outage", _keys(up + down + back + again), out.outcomes)
        phases = {"up": up, "down": down, "back": back, "again": again}
        degraded = {name: _degraded(out, records) for name, records in phases.items()}
        hits_again = sum(o.cached_images for o in _verdicts(out, _keys(again)))
    await asyncio.to_thread(worker.stop, 30.0)
    keys_written = int(redis.Redis(host=LOOPBACK, port=port).dbsize())
    log_lines = worker.log_path.read_text(errors="replace").splitlines()
    warnings = sum(" WARNING " in line and ("cache" in line or "redis" in line) for line in log_lines)
    tally.check("verdicts kept coming while Redis was down", tally.lost == 0, f"{down_s:.1f}s for that phase")
    tally.check("every verdict during the outage marked", degraded["down"] == len(down), f"{degraded}")
    tally.check("outage logged", warnings > 0, f"{warnings} warnings about the cache")
    tally.check("no degraded verdict once Redis was back", degraded["back"] + degraded["again"] == 0)
    tally.check("caching resumed: embeddings written again", int(keys_written) > 0, f"{keys_written} keys")
    tally.check("caching resumed: cache hits", hits_again > 0, f"{hits_again} cached images")
    tally.notes.update(
        degraded_verdicts=degraded, outage_phase_s=round(down_s, 2), cache_hits_after=hits_again
    )
    tally.seconds = time.monotonic() - started
    return tally


async def image_host_down(ctx: Context) -> Tally:
    started = time.monotonic()
    url, topics = ctx.stack.broker.url, Topics.fresh()
    await topics.create(url)
    refused = f"{LOOPBACK}:{free_port()}"  # allowed, but nothing listens
    endpoints = json.dumps([*ctx.endpoints(), refused])
    posts = text_posts("refused", PHASE_POSTS, [f"http://{refused}/a.png"], every=1)
    posts += text_posts("hanging", 24, [ctx.hostile.url("/hang?seconds=20")], every=1)
    worker = start_worker(
        ctx, "image-host-down", topics, allow_private_endpoints=endpoints, **OUTAGE_SETTINGS
    )
    warm_up = text_posts("warm-up", 1)
    async with Outputs(url, topics, read_committed=ctx.exactly_once) as out:
        await _phase(out, url, topics.posts, warm_up, worker)  # timings below exclude start-up
        took = await _phase(out, url, topics.posts, posts, worker)
        tally = Tally.count("image host down", _keys(posts + warm_up), out.outcomes)
        verdicts = _verdicts(out, _keys(posts))
    await asyncio.to_thread(worker.stop, 30.0)
    text_only = sum(o.modalities == ("text",) for o in verdicts)
    kinds = sorted({kind for o in verdicts for kind in o.images})
    marked = sum("images_unavailable" in o.degraded for o in verdicts)
    tally.check("every post got a verdict", len(verdicts) >= len(posts) and tally.lost == 0)
    tally.check("verdicts from the text alone", text_only == len(verdicts), f"{text_only}/{len(verdicts)}")
    tally.check("image errors say why", set(kinds) <= {"unreachable", "timeout"}, f"{kinds}")
    tally.check("marked images_unavailable", marked == len(verdicts), f"{marked}/{len(verdicts)}")
    tally.check("no stall", took < STALL_BOUND_S, f"{took:.1f}s for {len(posts)} posts")
    tally.notes.update(seconds_for_all=round(took, 2), image_error_kinds=kinds)
    tally.seconds = time.monotonic() - started
    return tally


async def broker_restart(ctx: Context) -> Tally:
    started = time.monotonic()
    broker, topics = ctx.stack.broker, Topics.fresh()
    await topics.create(broker.url)
    # Fewer posts after than before: the new broker's offsets stay below every offset
    # the worker had reached, so a worker that trusted its old positions would skip them.
    before, after = text_posts("broker-before", 300), text_posts("broker-after", 100)
    worker = start_worker(ctx, "broker-restart", topics)
    async with Outputs(broker.url, topics, read_committed=ctx.exactly_once) as out:
        await _phase(out, broker.url, topics.posts, before, worker)
        answered_before = list(out.outcomes)
    port = broker.port
    await asyncio.to_thread(broker.stop)
    await asyncio.to_thread(broker.start, port=port)
    restarted = time.monotonic()
    await topics.create(broker.url)  # the new broker starts empty
    async with Outputs(broker.url, topics, read_committed=ctx.exactly_once) as out:
        took = await _phase(out, broker.url, topics.posts, after, worker)
        alive = worker.running()
        # A broker that kept its log serves the answers from before the restart again.
        outcomes = out.outcomes if broker.keeps_data else answered_before + out.outcomes
    exit_code = await asyncio.to_thread(worker.stop, 30.0)
    tally = Tally.count("broker restart", _keys(before + after), outcomes)
    tally.check("same worker process carried on", alive, worker.log_tail(5))
    tally.check("posts after the restart answered", tally.lost == 0, f"{time.monotonic() - restarted:.1f}s")
    tally.check("exit code 0", exit_code == 0, f"exit code {exit_code}")
    if ctx.exactly_once:
        tally.check("nothing answered twice", tally.duplicates == 0, f"{tally.duplicates}")
    tally.notes.update(seconds_after_restart=round(took, 2))
    tally.seconds = time.monotonic() - started
    return tally
