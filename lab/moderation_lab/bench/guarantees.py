"""What exactly-once costs: the same short streams under each processing guarantee.

A separate measurement from the full-size streams of ``make bench``: tiny models, so
that the broker round trips, not the models, dominate and the guarantee's own cost
shows; on noida-db, the embedded broker with transactions. For each guarantee a fresh
worker answers a backlog (throughput) and then a paced stream (latency from the
post's timestamp to the verdict's arrival at a read_committed reader). Under
exactly-once a verdict becomes visible only when its partition's transaction commits,
every ``MODERATION_COMMIT_INTERVAL_S``, so the latency grows by about that interval.

Example::

    figures = asyncio.run(guarantee_cost(workdir, posts=400))
    figures["exactly_once"]["p50_latency_ms"]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from moderation_lab.bench.stream import VerdictWatcher, produce_paced, result
from moderation_lab.embedded.kafka_io import create_topics
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack

__all__ = ["GUARANTEES", "guarantee_cost"]

GUARANTEES = ("at_least_once", "exactly_once")
#: The worker's default commit interval: it paces the transactions under exactly-once.
COMMIT_INTERVAL_S = 1.0


def _posts(prefix: str, count: int) -> list[tuple[str, bytes]]:
    return [
        (
            f"{prefix}-{i}",
            json.dumps(
                {
                    "id": f"{prefix}-{i}",
                    "text": f"a post about topic {i % 17} number {i}",
                    "image_urls": [],
                    "author_id": "bench",
                    "created_at": "2026-11-24T12:00:00Z",
                }
            ).encode(),
        )
        for i in range(count)
    ]


async def _one(stack: EmbeddedStack, guarantee: str, posts: int, rate: float) -> dict[str, float]:
    tag = guarantee.replace("_", "-")
    topics = {name: f"{name}-{tag}" for name in ("posts", "verdicts", "flagged", "dlq")}
    await create_topics(stack.broker.url, topics.values(), 4)
    worker = stack.start_worker(
        f"guarantee-{tag}",
        processing_guarantee=guarantee,
        commit_interval_s=COMMIT_INTERVAL_S,
        group_id=f"bench-{tag}",
        posts_topic=topics["posts"],
        verdicts_topic=topics["verdicts"],
        flagged_topic=topics["flagged"],
        dlq_topic=topics["dlq"],
        web_port=free_port(),
        log_level="warning",
    )
    try:
        async with VerdictWatcher(stack.broker.url, topics["verdicts"], read_committed=True) as watcher:
            warm = await produce_paced(stack.broker.url, topics["posts"], _posts(f"{tag}-warm", 20), None)
            await watcher.wait_for(list(warm), 300)
            backlog = await produce_paced(stack.broker.url, topics["posts"], _posts(f"{tag}-b", posts), None)
            await watcher.wait_for(list(backlog), 600)
            throughput = result(backlog, watcher.seen).posts_per_s
            paced_posts = _posts(f"{tag}-p", int(rate * 10))
            paced = await produce_paced(stack.broker.url, topics["posts"], paced_posts, rate)
            await watcher.wait_for(list(paced), 300)
            latency = result(paced, watcher.seen)
    finally:
        worker.stop(timeout_s=60)
    return {
        "posts_per_s": throughput,
        "paced_rate_posts_per_s": rate,
        "p50_latency_ms": latency.percentile(0.5),
        "p99_latency_ms": latency.percentile(0.99),
    }


async def guarantee_cost(workdir: Path, posts: int = 400, rate: float = 20.0) -> dict[str, Any]:
    """Per guarantee: backlog throughput and paced latency; and the ratios between them."""
    figures: dict[str, Any] = {"broker": "noida", "models": "tiny", "commit_interval_s": COMMIT_INTERVAL_S}
    with EmbeddedStack(workdir, broker="noida") as stack:
        for guarantee in GUARANTEES:
            figures[guarantee] = await _one(stack, guarantee, posts, rate)
    alo, eos = figures["at_least_once"], figures["exactly_once"]
    figures["eos_throughput_ratio"] = eos["posts_per_s"] / alo["posts_per_s"]
    figures["eos_added_p50_latency_ms"] = eos["p50_latency_ms"] - alo["p50_latency_ms"]
    figures["eos_added_p99_latency_ms"] = eos["p99_latency_ms"] - alo["p99_latency_ms"]
    return figures
