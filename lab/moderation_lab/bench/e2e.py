"""The end-to-end streams of ``make bench``: cold, text-only, with repeats, all repeats,
and a paced run at 70% of the measured rate for latency and memory."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from typing import TYPE_CHECKING, Any

import httpx

from moderation_lab.bench.data import BenchCorpus, BenchPost
from moderation_lab.bench.measure import forward_pass
from moderation_lab.bench.progress import Advance
from moderation_lab.bench.sizing import PassBudget, stream_posts, summary
from moderation_lab.bench.stream import (
    VerdictWatcher,
    latency_parts,
    median,
    process_memory_mb,
    produce_paced,
    result,
    scrape,
)
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.stack import EmbeddedStack

if TYPE_CHECKING:
    from moderation_lab.bench.run import Bench

__all__ = ["run_streams"]

TIMEOUT_S = 1800.0


async def _wait_ready(port: int, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("the benchmark worker never became ready")


class Streams:
    def __init__(
        self, bench: Bench, stack: EmbeddedStack, watcher: VerdictWatcher, topic: str = "posts"
    ) -> None:
        self.bench, self.stack, self.watcher, self.topic = bench, stack, watcher, topic

    async def send(self, posts: list[BenchPost], rate: float | None = None) -> dict[str, int]:
        for path in BenchCorpus.image_paths(posts):
            self.stack.images.add(path, self.bench.image_bytes(path), "image/jpeg")
        records = [(p.id, p.to_json(self.stack.images.url)) for p in posts]
        sent = await produce_paced(self.stack.broker.url, self.topic, records, rate)
        await self.watcher.wait_for(list(sent), TIMEOUT_S)
        return sent

    async def rate(self, posts: list[BenchPost]) -> float:
        return result(await self.send(posts), self.watcher.seen).posts_per_s

    async def cold_rate(self, posts: list[BenchPost], port: int, r: dict[str, Any], key: str) -> None:
        """Rate of a stream the cache has never seen, appended to ``r[key + "_runs"]``, and
        its cache-hit ratio to ``r[key + "_cache_hit_ratio_runs"]`` (0 when truly cold)."""
        hits, misses = _cache(scrape(port))
        r.setdefault(f"{key}_runs", []).append(await self.rate(posts))
        hits2, misses2 = _cache(scrape(port))
        ratio = (hits2 - hits) / max(1.0, (hits2 - hits) + (misses2 - misses))
        r.setdefault(f"{key}_cache_hit_ratio_runs", []).append(ratio)


def _cache(metrics: dict[str, float]) -> tuple[float, float]:
    return (
        metrics.get('moderation_cache_lookups_total{result="hit"}', 0.0),
        metrics.get('moderation_cache_lookups_total{result="miss"}', 0.0),
    )


async def _sample_memory(pid: int, samples: list[float], every_s: float = 10.0) -> None:
    while True:
        samples.append(process_memory_mb(pid)["VmRSS"])
        await asyncio.sleep(every_s)


#: Cold streams timed; their median is ``e2e_posts_per_s``. A stream of 192 posts
#: lasts under a minute, and one slow minute on a shared machine must not decide it.
COLD_RUNS = 3


async def run_streams(
    bench: Bench, stack: EmbeddedStack, worker: ChildProcess, port: int, previous_port: int
) -> None:
    """Streams over distinct ranges of tweet pairs (in multiples of ``n``; see
    :meth:`BenchCorpus.posts`), so that every cold stream, ours, text-only and the
    previous configuration's, really misses the cache, and only the repeats hit it."""
    r, corpus, args = bench.results, bench.corpus, bench.args
    n = r["posts_per_stream"] = stream_posts(
        _forward_estimate(bench), args.stream_seconds, highest=args.posts
    )
    bench.progress.console.print(
        f"      {n} posts per stream (about {args.stream_seconds:.0f} s each at the forward rate)"
    )
    await _wait_ready(port)
    await _wait_ready(previous_port)
    async with (
        VerdictWatcher(stack.broker.url, "verdicts") as watcher,
        VerdictWatcher(stack.broker.url, "prev.verdicts") as previous_watcher,
    ):
        s = Streams(bench, stack, watcher)
        prev = Streams(bench, stack, previous_watcher, topic="prev.posts")
        warm = 3 * COLD_RUNS + 1
        # First batches of every shape, not timed.
        await s.send(corpus.posts(32, "warm", with_images=True, start=warm * n))
        await prev.send(corpus.posts(32, "pwarm", with_images=True, start=warm * n + 32))
        colds: list[list[BenchPost]] = []
        budget = PassBudget(max_runs=COLD_RUNS, seconds=args.cold_seconds)
        started = time.monotonic()
        with bench.progress.bar("cold rounds", COLD_RUNS) as advance:
            while budget.another(len(colds), time.monotonic() - started):
                k = len(colds)
                # A seed-loop and a forward pass just before the streams, while the workers
                # idle (about 1% of a core each): the figures share the machine's moods.
                if bench.alternating is not None:
                    await asyncio.to_thread(bench.alternating.passes, r)
                cold = corpus.posts(n, f"cold{k}", with_images=True, start=k * n)
                colds.append(cold)
                await s.cold_rate(cold, port, r, "e2e_posts_per_s")
                text = corpus.posts(n, f"text{k}", with_images=False, start=(COLD_RUNS + k) * n)
                await s.cold_rate(text, port, r, "text_only_e2e_posts_per_s")
                previous = corpus.posts(n, f"prev{k}", with_images=True, start=(2 * COLD_RUNS + k) * n)
                await prev.cold_rate(previous, previous_port, r, "previous_e2e_posts_per_s")
                advance(f"cold {r['e2e_posts_per_s_runs'][-1]:.2f} posts/s")
        r["cold_rounds"] = len(colds)
        bench.alternating = None  # frees the seed models and ours before the soak
        for key in (
            "seed_loop_posts_per_s",
            "forward_posts_per_s",
            "e2e_posts_per_s",
            "text_only_seed_loop_posts_per_s",
            "text_only_forward_posts_per_s",
            "text_only_e2e_posts_per_s",
            "previous_e2e_posts_per_s",
        ):
            if f"{key}_runs" in r:  # the seed loop and forward passes need the in-process phase
                r[key] = median(r[f"{key}_runs"])
                r.setdefault("samples", {})[key] = summary(r[f"{key}_runs"])
        cold_keys = ("e2e_posts_per_s", "text_only_e2e_posts_per_s", "previous_e2e_posts_per_s")
        r["cold_cache_hit_ratio"] = max(max(r[f"{key}_cache_hit_ratio_runs"]) for key in cold_keys)
        hits, misses = _cache(scrape(port))
        first = colds[0]
        repeats = [dataclasses.replace(p, id=f"rt-{p.id}") for p in first[: int(0.3 * n)]]
        fresh = corpus.posts(n - len(repeats), "mixed", with_images=True, start=3 * COLD_RUNS * n)
        mixed = repeats + fresh
        mixed.sort(key=lambda p: hash(p.id) % 997)  # repeats spread through the stream
        r["e2e_repeat_posts_per_s"] = await s.rate(mixed)
        hits2, misses2 = _cache(scrape(port))
        r["cache_hit_ratio"] = (hits2 - hits) / max(1.0, (hits2 - hits) + (misses2 - misses))
        all_repeats = [dataclasses.replace(p, id=f"rt2-{p.id}") for p in first[: n // 2]]
        r["e2e_all_repeat_posts_per_s"] = await s.rate(all_repeats)
        bench.progress.console.print(f"      repeats: {r['e2e_repeat_posts_per_s']:.2f} posts/s")
        await _paced(bench, s, worker, port, start=warm * n + 64)


def _forward_estimate(bench: Bench) -> float:
    """Posts per second of the forward pass, from the category phase when it ran."""
    costs = bench.results.get("category_costs", {})
    runs = costs.get("forward_posts_per_s_runs") or bench.results.get("forward_posts_per_s_runs")
    if runs:
        return median(runs)
    if bench.alternating is not None:
        a = bench.alternating
        return forward_pass(a.model, a.forward_posts, a.forward_images, a.batch)
    return float("inf")  # unknown: the largest streams asked for


async def _minutes(advance: Advance, total: int) -> None:
    for minute in range(total):
        await asyncio.sleep(60)
        advance(f"{minute + 1} min")


async def _paced(bench: Bench, s: Streams, worker: ChildProcess, port: int, start: int) -> None:
    r = bench.results
    rate = 0.7 * r["e2e_posts_per_s"]
    count = max(20, int(rate * bench.args.soak_seconds))
    posts = bench.corpus.posts(count, "paced", with_images=True, start=start)
    assert worker.pid is not None
    samples: list[float] = []
    before = scrape(port)
    sampler = asyncio.create_task(_sample_memory(worker.pid, samples))
    minutes = max(1, math.ceil(count / rate / 60))
    bench.progress.console.print(f"      paced: {count} posts at {rate:.2f} posts/s (70% of the cold rate)")
    try:
        with bench.progress.bar("paced soak, minutes", minutes) as advance:
            ticker = asyncio.create_task(_minutes(advance, minutes))
            try:
                sent = await s.send(posts, rate=rate)
            finally:
                ticker.cancel()
    finally:
        sampler.cancel()
    paced = result(sent, s.watcher.seen)
    r["paced_rate_posts_per_s"] = rate
    r["paced_posts"] = count
    r["p50_latency_ms"], r["p99_latency_ms"] = paced.percentile(0.5), paced.percentile(0.99)
    r["paced_latency_parts_ms"] = latency_parts(sent, s.watcher.seen, s.watcher.timings)
    r["paced_slowest"] = slowest(sent, s.watcher.seen)
    memory = process_memory_mb(worker.pid)
    r["peak_rss_mb"] = memory["VmHWM"]
    r["rss_mb_samples"] = samples
    third = max(1, len(samples) // 3)
    r["rss_growth_mb_last_vs_first_third"] = (
        sum(samples[-third:]) / third - sum(samples[:third]) / third if samples else 0.0
    )
    metrics = scrape(port)
    r["batch_size_histogram"] = _histogram(metrics, "moderation_batch_size_bucket")

    # The batches of this paced run only: the backlog runs before it cut full batches,
    # whose longer compute times would loosen the latency bound.
    def delta(name: str) -> float:
        return metrics.get(name, 0.0) - before.get(name, 0.0)

    batches = delta("moderation_batch_compute_seconds_count")
    r["batch_compute_ms_mean"] = 1000 * delta("moderation_batch_compute_seconds_sum") / max(1.0, batches)
    full = 'moderation_gc_pause_seconds_{}{{generation="2"}}'
    r["paced_full_gc_count"] = int(delta(full.format("count")))
    r["paced_full_gc_pause_ms_total"] = 1000 * delta(full.format("sum"))
    earlier = _histogram(before, "moderation_batch_size_bucket")
    r["paced_batch_size_histogram"] = {
        label: count - earlier.get(label, 0) for label, count in r["batch_size_histogram"].items()
    }


def slowest(sent: dict[str, int], seen: dict[str, int], share: float = 0.02) -> list[list[float]]:
    """The slowest ``share`` of posts as [seconds into the run, latency ms], in sending
    order: a run of neighbours means the whole machine stalled, lone ones a slow post."""
    start = min(sent.values())
    latencies = sorted(((seen[i] - t, t) for i, t in sent.items()), reverse=True)
    worst = latencies[: max(1, round(share * len(latencies)))]
    worst.sort(key=lambda w: w[1])
    return [[round((t - start) / 1000, 2), float(latency)] for latency, t in worst]


def _histogram(metrics: dict[str, float], name: str) -> dict[str, int]:
    """Per-bucket counts from a cumulative Prometheus histogram."""
    buckets: list[tuple[float, float]] = []
    for key, value in metrics.items():
        if key.startswith(name + "{"):
            upper = key.split('le="')[1].split('"')[0]
            buckets.append((float(upper), value))
    buckets.sort()
    out: dict[str, int] = {}
    previous = 0.0
    for bound, cumulative in buckets:
        label = "+Inf" if bound == float("inf") else f"<={int(bound)}"
        out[label] = int(cumulative - previous)
        previous = cumulative
    return out
