"""Runs every measurement of ``make bench`` and reports them (see lab/moderation_lab/bench/__init__.py)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from moderation_lab.bench import baseline, measure
from moderation_lab.bench.data import BenchCorpus, BenchPost, photo, tagged
from moderation_lab.bench.guarantees import guarantee_cost
from moderation_lab.bench.models import build_full_models
from moderation_lab.bench.report import print_guarantees, print_table
from moderation_lab.demo.data import find_data_dir
from moderation_lab.embedded.kafka_io import create_topics
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack
from worker.config.settings import Settings
from worker.fetch.decode import decode_image
from worker.model import ModerationModel

__all__ = ["main"]

BASE_PHOTOS = 24


@dataclass
class Alternating:
    """The seed loop and our model, held loaded so that their timed passes alternate with
    the cold end-to-end streams. This machine's speed drifts by 10-20% over minutes (three
    forward passes in a row once gave 5.37, 4.76 and 4.50 posts/s), so figures taken
    minutes apart would put that drift into their ratios."""

    seed: baseline.SeedLoop
    seed_posts: list[BenchPost]
    seed_images: dict[str, Image.Image]
    model: ModerationModel
    forward_posts: list[BenchPost]
    forward_images: dict[str, Image.Image]
    batch: int

    def passes(self, r: dict[str, Any]) -> None:
        """One timed pass of each, added to the ``*_runs`` lists of ``r``."""
        seed = baseline.seed_pass(self.seed, self.seed_posts, self.seed_images)
        r.setdefault("seed_loop_posts_per_s_runs", []).append(seed)
        forward = measure.forward_pass(self.model, self.forward_posts, self.forward_images, self.batch)
        r.setdefault("forward_posts_per_s_runs", []).append(forward)


@dataclass
class Bench:
    args: argparse.Namespace
    corpus: BenchCorpus
    paths: dict[str, Path]
    photos: list[bytes] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    alternating: Alternating | None = None

    def image_bytes(self, path: str) -> bytes:
        number = int(path.rsplit("/", 1)[1].split(".")[0])
        return tagged(self.photos[number % len(self.photos)], number)

    def decoded(self, posts: list[BenchPost], min_side: int = 0) -> dict[str, Image.Image]:
        """The posts' images, decoded in full (as the cards do) or as the worker does."""
        max_pixels = Settings().max_image_pixels
        return {
            path: decode_image(self.image_bytes(path), max_pixels, min_side).image
            for path in BenchCorpus.image_paths(posts)
        }

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "text_encoder": str(self.paths["text"]),
            "image_encoder": str(self.paths["image"]),
            "clip_model": str(self.paths["clip"]),
            "precision": self.args.precision,
            "max_batch": self.args.max_batch,
        }
        return Settings(**{**values, **overrides})


def in_process(bench: Bench) -> None:
    """Baselines and the model's own limit, before any service starts. The all-heads seed
    loop and forward rates are timed later, alternating with the cold streams
    (:class:`Alternating`); the text-only ones, FLOPs and agreements here."""
    r, args = bench.results, bench.args
    r["matmul_gflops"] = measure.matmul_gflops()
    prompts = [Settings().clip_prompt_template.format(label) for label in Settings().clip_labels]
    seed_posts = bench.corpus.posts(args.seed_posts, "seed", with_images=True)
    images = bench.decoded(seed_posts)
    seed = baseline.SeedLoop(bench.paths, prompts)
    seed.run(seed_posts[0], images)  # warm-up, not timed
    text_posts = bench.corpus.posts(args.seed_posts, "seedt", with_images=False)
    seed.run(text_posts[0], {})
    # Every rate is the median of three passes (the runs are kept).
    rates = [baseline.seed_pass(seed, text_posts, {}) for _ in range(3)]
    r["text_only_seed_loop_posts_per_s"] = statistics.median(rates)
    model = ModerationModel.load(bench.settings())
    forward_posts = bench.corpus.posts(args.forward_posts, "fwd", with_images=True)
    # The model gets its images the way the worker decodes them (JPEGs at a reduced scale).
    worker_images = bench.decoded(forward_posts, model.settings.decode_min_side)
    r["flops_per_post"] = measure.flops_per_post(model, forward_posts, worker_images, args.max_batch)
    text_fwd = bench.corpus.posts(args.forward_posts, "fwdt", with_images=False)
    rates, r["text_only_flops_per_post"] = measure.forward_posts_per_s(model, text_fwd, {}, args.max_batch)
    r["text_only_forward_posts_per_s"] = statistics.median(rates)
    if args.precision == "int8":
        fp32 = ModerationModel.load(bench.settings(precision="fp32"))
        sample = forward_posts[:32]
        r["int8_agreement"] = measure.agreement(
            fp32,
            model,
            [p.text for p in sample],
            [worker_images[p] for p in bench.corpus.image_paths(sample)][:16],
        )
        del fp32
    full = bench.decoded(forward_posts[:16])
    r["decode_agreement"] = measure.decode_agreement(
        model, list(full.values()), [worker_images[p] for p in full]
    )
    bench.alternating = Alternating(
        seed, seed_posts, images, model, forward_posts, worker_images, args.max_batch
    )
    gc.collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m moderation_lab.bench", description=__doc__)
    parser.add_argument("--posts", type=int, default=192, help="posts per end-to-end stream")
    parser.add_argument("--seed-posts", type=int, default=12, help="posts for the baseline loop")
    parser.add_argument("--forward-posts", type=int, default=64)
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="paced run at 70%% load")
    parser.add_argument("--precision", default="int8", choices=["fp32", "int8"])
    parser.add_argument("--max-batch", type=int, default=Settings().max_batch)
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--models", type=Path, default=Path(".models/full"))
    parser.add_argument(
        "--no-gc-freeze",
        dest="gc_freeze",
        action="store_false",
        help="run the worker with MODERATION_GC_FREEZE=false (to compare)",
    )
    parser.add_argument(
        "--guarantees-only",
        action="store_true",
        help="only the short at-least-once vs exactly-once comparison (tiny models, noida-db)",
    )
    args = parser.parse_args(argv)
    if args.guarantees_only:
        figures = asyncio.run(guarantee_cost(Path(".run") / time.strftime("guarantees-%Y%m%d-%H%M%S")))
        args.out.write_text(json.dumps({"guarantees": figures}, indent=2, sort_keys=True) + "\n")
        print_guarantees(figures)
        print(f"wrote {args.out}")
        return 0
    corpus = BenchCorpus.load(find_data_dir())
    started = time.monotonic()
    paths = build_full_models(args.models, corpus.texts)
    bench = Bench(args, corpus, paths, [photo(seed) for seed in range(BASE_PHOTOS)])
    bench.results["config"] = {
        "precision": args.precision,
        "max_batch": args.max_batch,
        "gc_freeze": args.gc_freeze,
        "models": {"text": "BERT-base", "image": "ResNet-34", "clip": "CLIP ViT-B/16"},
        "data": "shared/data tweet pairs" if find_data_dir() else "built-in sample",
    }
    in_process(bench)
    asyncio.run(end_to_end(bench))
    # The guarantees' cost, measured in the same run on tiny models (see bench.guarantees).
    workdir = Path(".run") / time.strftime("guarantees-%Y%m%d-%H%M%S")
    bench.results["guarantees"] = asyncio.run(guarantee_cost(workdir))
    bench.results["bench_seconds"] = time.monotonic() - started
    derive(bench.results)
    args.out.write_text(json.dumps(bench.results, indent=2, sort_keys=True) + "\n")
    print_table(bench.results)
    print_guarantees(bench.results["guarantees"])
    print(f"wrote {args.out}")
    return 0


def derive(r: dict[str, Any]) -> None:
    """Ratios and utilisation from the measured figures."""
    r["e2e_over_forward"] = r["e2e_posts_per_s"] / r["forward_posts_per_s"]
    # Each cold stream over the forward pass just before it (the passes alternate).
    pairs = zip(r.get("e2e_posts_per_s_runs", []), r.get("forward_posts_per_s_runs", []), strict=False)
    r["e2e_over_forward_runs"] = [e2e / forward for e2e, forward in pairs]
    r["e2e_over_seed_loop"] = r["e2e_posts_per_s"] / r["seed_loop_posts_per_s"]
    r["text_only_e2e_over_seed_loop"] = r["text_only_e2e_posts_per_s"] / r["text_only_seed_loop_posts_per_s"]
    r["repeated_post_cost_ratio"] = r["e2e_posts_per_s"] / r["e2e_all_repeat_posts_per_s"]
    r["flop_utilization"] = r["flops_per_post"] * r["e2e_posts_per_s"] / (r["matmul_gflops"] * 1e9)
    r["forward_flop_utilization"] = (
        r["flops_per_post"] * r["forward_posts_per_s"] / (r["matmul_gflops"] * 1e9)
    )
    bound = r["max_wait_ms"] + 2 * r["batch_compute_ms_mean"]
    r["p99_latency_bound_ms"] = bound


async def end_to_end(bench: Bench) -> None:
    from moderation_lab.bench.e2e import run_streams

    workdir = Path(".run") / time.strftime("bench-%Y%m%d-%H%M%S")
    with EmbeddedStack(workdir, models=bench.paths) as stack:
        await create_topics(stack.broker.url, ["posts", "verdicts", "verdicts.flagged", "posts.dlq"], 4)
        port = free_port()
        settings = bench.settings()
        worker = stack.start_worker(
            "bench-worker",
            web_port=port,
            precision=settings.precision,
            max_batch=settings.max_batch,
            gc_freeze=bench.args.gc_freeze,
            log_level="warning",
        )
        bench.results["max_wait_ms"] = settings.max_wait_ms
        try:
            await run_streams(bench, stack, worker, port)
        finally:
            worker.stop(timeout_s=60)
