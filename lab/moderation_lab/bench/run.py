"""Runs every measurement of ``make bench`` and reports them (see lab/moderation_lab/bench/__init__.py)."""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from moderation_lab.bench import baseline, measure
from moderation_lab.bench.backends import compare_backends
from moderation_lab.bench.categories import category_costs
from moderation_lab.bench.data import BenchCorpus, BenchPost, tagged
from moderation_lab.bench.peaks import PRECISION_OF, gemm_peaks
from moderation_lab.bench.progress import Progress, quiet
from moderation_lab.bench.sizing import PassBudget
from moderation_lab.embedded.kafka_io import create_topics
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack
from worker.config.settings import Settings
from worker.fetch.decode import decode_image
from worker.model import ModerationModel
from worker.model.backends import ENCODERS, choose_backend

__all__ = ["Bench", "backend_phase", "category_phase", "derive", "end_to_end", "in_process"]

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
    seed_text_posts: list[BenchPost]
    forward_text_posts: list[BenchPost]

    def passes(self, r: dict[str, Any]) -> None:
        """One timed pass of each, all heads and text only, added to the ``*_runs``
        lists of ``r``."""
        seed = baseline.seed_pass(self.seed, self.seed_posts, self.seed_images)
        r.setdefault("seed_loop_posts_per_s_runs", []).append(seed)
        forward = measure.forward_pass(self.model, self.forward_posts, self.forward_images, self.batch)
        r.setdefault("forward_posts_per_s_runs", []).append(forward)
        seed = baseline.seed_pass(self.seed, self.seed_text_posts, {})
        r.setdefault("text_only_seed_loop_posts_per_s_runs", []).append(seed)
        forward = measure.forward_pass(self.model, self.forward_text_posts, {}, self.batch)
        r.setdefault("text_only_forward_posts_per_s_runs", []).append(forward)
        r["gemm_peaks_runs"].append(gemm_peaks(repeats=5))


@dataclass
class Bench:
    args: argparse.Namespace
    corpus: BenchCorpus
    paths: dict[str, Path]
    photos: list[bytes] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    alternating: Alternating | None = None
    progress: Progress = field(default_factory=quiet)
    #: The worker's model on its chosen backends, loaded by :func:`in_process`.
    model: ModerationModel | None = None

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
            # Exported once per weights and kept beside the models, for later runs.
            "onnx_cache_dir": self.args.models.resolve() / "onnx",
        }
        return Settings(**{**values, **overrides})


def in_process(bench: Bench) -> None:
    """Peaks, FLOPs and agreement, before any service starts. The seed loop and forward
    rates (all heads and text only) are timed later, alternating with the cold streams
    (:class:`Alternating`)."""
    r, args = bench.results, bench.args
    # Measured again in every alternating round; the highest of each precision is the
    # peak (a peak taken in one busy moment would let busy-moment rates exceed it).
    r["gemm_peaks_runs"] = [gemm_peaks()]
    r["gemm_peaks"] = r["gemm_peaks_runs"][0]
    prompts = [Settings().clip_prompt_template.format(label) for label in Settings().clip_labels]
    seed_posts = bench.corpus.posts(args.seed_posts, "seed", with_images=True)
    images = bench.decoded(seed_posts)
    seed = baseline.SeedLoop(bench.paths, prompts)
    seed.run(seed_posts[0], images)  # warm-up, not timed
    text_posts = bench.corpus.posts(args.seed_posts, "seedt", with_images=False)
    seed.run(text_posts[0], {})
    forward_posts = bench.corpus.posts(args.forward_posts, "fwd", with_images=True)
    text_fwd = bench.corpus.posts(args.forward_posts, "fwdt", with_images=False)
    fp32 = ModerationModel.load(bench.settings(precision="fp32"))
    # The model gets its images the way the worker decodes them (JPEGs at a reduced scale).
    worker_images = bench.decoded(forward_posts, fp32.settings.decode_min_side)
    r["flops_per_post_by_part"] = measure.flops_by_part(fp32, forward_posts, worker_images, args.max_batch)
    r["text_only_flops_per_post_by_part"] = measure.flops_by_part(fp32, text_fwd, {}, args.max_batch)
    model = ModerationModel.load(bench.settings())
    r["backends_chosen"] = dict(model.backends)
    sample = forward_posts[:32]
    sample_images = [worker_images[p] for p in bench.corpus.image_paths(sample)][:16]
    r["agreement"] = measure.agreement(fp32, model, [p.text for p in sample], sample_images)
    del fp32
    gc.collect()
    full = bench.decoded(forward_posts[:16])
    r["decode_agreement"] = measure.decode_agreement(
        model, list(full.values()), [worker_images[p] for p in full]
    )
    bench.model = model
    bench.alternating = Alternating(
        seed, seed_posts, images, model, forward_posts, worker_images, args.max_batch, text_posts, text_fwd
    )
    gc.collect()


#: Items per encoder in the backend table (texts; images are at most as many).
TABLE_ITEMS = 16


def backend_phase(bench: Bench) -> None:
    """Every encoder on every backend and peer runtime, side by side, in rounds bounded
    by time. Peers' int8 is calibrated on other posts than those measured."""
    r, args = bench.results, bench.args
    if bench.alternating is not None:
        posts, images_of = bench.alternating.forward_posts, bench.alternating.forward_images
    else:  # the phase run alone (--phases "backend table"): the same posts, decoded the same way
        posts = bench.corpus.posts(args.forward_posts, "fwd", with_images=True)
        images_of = bench.decoded(posts, Settings().decode_min_side)
    if "gemm_peaks" not in r:
        r["gemm_peaks"] = gemm_peaks()
    settings = bench.settings()
    chosen = dict(bench.model.backends) if bench.model else _cpu_choice(settings)
    measured, calibration = posts[:32], posts[32:64] or posts[:32]
    budget = PassBudget(max_runs=args.table_rounds, seconds=args.table_seconds)
    with bench.progress.bar("backend table rounds", args.table_rounds) as advance:
        table = compare_backends(
            settings,
            [p.text for p in measured[:TABLE_ITEMS]],
            [images_of[p] for p in bench.corpus.image_paths(measured)][:TABLE_ITEMS],
            r["gemm_peaks"],
            batch=args.max_batch,
            budget=budget,
            on_round=lambda done, elapsed: advance(f"{elapsed:.0f} s"),
            peers=args.peers,
            calibration=(
                [p.text for p in calibration[:TABLE_ITEMS]],
                [images_of[p] for p in bench.corpus.image_paths(calibration)][:TABLE_ITEMS],
            ),
        )
    r["backend_table"] = {**table, "chosen": dict(chosen)}


def _cpu_choice(settings: Settings) -> dict[str, str]:
    """The backend each encoder takes on this CPU, as the worker chooses it."""
    cpu = torch.device("cpu")
    wanted = {e: getattr(settings, f"{e}_backend") for e in ENCODERS}
    return {e: choose_backend(e, w, settings.precision, cpu) for e, w in wanted.items()}


def category_phase(bench: Bench) -> None:
    assert bench.model is not None
    bench.results["category_costs"] = categories(bench, bench.model)


def categories(bench: Bench, model: ModerationModel) -> dict[str, Any]:
    """What each kind of added category costs per post, on the bench's forward posts."""
    posts = bench.corpus.posts(bench.args.forward_posts, "cat", with_images=True)
    images = bench.decoded(posts, model.settings.decode_min_side)
    folder = bench.args.models / "categories"
    return category_costs(model, posts, images, folder, batch=bench.args.max_batch)


def derive(r: dict[str, Any]) -> None:
    """Ratios and utilisation from the measured figures."""
    r["e2e_over_forward"] = r["e2e_posts_per_s"] / r["forward_posts_per_s"]
    # Each cold stream over the forward pass just before it (the passes alternate).
    pairs = zip(r.get("e2e_posts_per_s_runs", []), r.get("forward_posts_per_s_runs", []), strict=False)
    r["e2e_over_forward_runs"] = [e2e / forward for e2e, forward in pairs]
    r["e2e_over_seed_loop"] = r["e2e_posts_per_s"] / r["seed_loop_posts_per_s"]
    r["text_only_e2e_over_seed_loop"] = r["text_only_e2e_posts_per_s"] / r["text_only_seed_loop_posts_per_s"]
    r["e2e_over_previous"] = r["e2e_posts_per_s"] / r["previous_e2e_posts_per_s"]
    r["repeated_post_cost_ratio"] = r["e2e_posts_per_s"] / r["e2e_all_repeat_posts_per_s"]
    runs = r.get("gemm_peaks_runs") or [r["gemm_peaks"]]
    r["gemm_peaks"] = {key: max(run[key] for run in runs) for key in runs[0]}
    r["matmul_gflops"] = r["gemm_peaks"]["fp32"] / 1e9
    r["flops_per_post"] = sum(r["flops_per_post_by_part"].values())
    r["text_only_flops_per_post"] = sum(r["text_only_flops_per_post_by_part"].values())
    for prefix, rate in (("", "e2e_posts_per_s"), ("forward_", "forward_posts_per_s")):
        by_precision = utilisation(
            r["flops_per_post_by_part"], r["backends_chosen"], r["gemm_peaks"], r[rate]
        )
        r[f"{prefix}flop_utilization_by_precision"] = by_precision
        r[f"{prefix}flop_utilization"] = sum(by_precision.values())
    table = r["backend_table"]
    for encoder, rows in table["encoders"].items():
        for backend, row in rows.items():
            peak = r["gemm_peaks"][PRECISION_OF[backend]]
            row["utilisation"] = row["items_per_s"] * table["flops_per_item"][encoder] / peak
    # Against the fastest backend that keeps agreement with fp32 (what the choice may pick),
    # and, to show what agreement costs, against the fastest of all.
    r["chosen_over_fastest_backend"] = {
        encoder: rows[table["chosen"][encoder]]["items_per_s"]
        / max(v["items_per_s"] for v in rows.values() if agrees(v))
        for encoder, rows in table["encoders"].items()
    }
    r["chosen_over_fastest_any_backend"] = {
        encoder: rows[table["chosen"][encoder]]["items_per_s"] / max(v["items_per_s"] for v in rows.values())
        for encoder, rows in table["encoders"].items()
    }
    r["chosen_agrees_with_fp32"] = {
        encoder: agrees(rows[table["chosen"][encoder]]) for encoder, rows in table["encoders"].items()
    }
    r["max_utilization"] = max(
        [r["flop_utilization"], r["forward_flop_utilization"]]
        + [row["utilisation"] for rows in table["encoders"].values() for row in rows.values()]
    )
    # A post may wait for the batch in progress, then run in its own: at p99, two batches
    # as the paced posts saw them, plus the p99 of the time outside the batches (Kafka,
    # images, publishing). Twice the *mean* batch, the bound before, is out of reach even
    # with nothing outside: the p99 post waits behind and runs in the larger batches.
    parts = r["paced_latency_parts_ms"]
    r["p99_latency_bound_ms"] = r["max_wait_ms"] + 2 * parts["batch"]["p99"] + parts["outside"]["p99"]
    r["p99_latency_bound_two_mean_batches_ms"] = r["max_wait_ms"] + 2 * r["batch_compute_ms_mean"]


#: Agreement a backend must keep with torch fp32 to be chosen.
MIN_COSINE, MAX_BIAS_SCORE_DIFF = 0.999, 0.005


def agrees(row: dict[str, Any]) -> bool:
    """Whether a backend's row of the table keeps agreement with torch fp32 (rows without
    a cosine, as in older results, count as agreeing)."""
    cosine = row.get("cosine_min", 1.0)
    bias = row.get("bias_score_abs_diff_max") or 0.0
    return bool(cosine >= MIN_COSINE and bias <= MAX_BIAS_SCORE_DIFF)


def utilisation(
    flops: dict[str, float], backends: dict[str, str], peaks: dict[str, float], posts_per_s: float
) -> dict[str, float]:
    """Share of each precision's peak the path uses: posts/s times the seconds a post's
    FLOPs in that precision would take at its peak. They add up to the whole path's
    utilisation, at most 1 when the peaks are the machine's real limits."""
    out: dict[str, float] = {}
    for part, part_flops in flops.items():
        precision = PRECISION_OF[backends[part]] if part in backends else "fp32"  # heads: torch fp32
        out[precision] = out.get(precision, 0.0) + posts_per_s * part_flops / peaks[precision]
    return out


#: The previous configuration's worker reads and writes topics of its own.
PREVIOUS_TOPICS = {
    "posts_topic": "prev.posts",
    "verdicts_topic": "prev.verdicts",
    "flagged_topic": "prev.verdicts.flagged",
    "dlq_topic": "prev.posts.dlq",
}


async def end_to_end(bench: Bench) -> None:
    from moderation_lab.bench.e2e import run_streams

    workdir = Path(".run") / time.strftime("bench-%Y%m%d-%H%M%S")
    with EmbeddedStack(workdir, models=bench.paths) as stack:
        topics = ["posts", "verdicts", "verdicts.flagged", "posts.dlq", *PREVIOUS_TOPICS.values()]
        await create_topics(stack.broker.url, topics, 4)
        port, previous_port = free_port(), free_port()
        settings = bench.settings()
        common: dict[str, Any] = {
            "max_batch": settings.max_batch,
            "gc_freeze": bench.args.gc_freeze,
            "log_level": "warning",
            "onnx_cache_dir": settings.onnx_cache_dir,
        }
        worker = stack.start_worker("bench-worker", web_port=port, precision=settings.precision, **common)
        # Idle (about 1% of a core) while the other streams run; its cold streams
        # alternate with ours so that the ratio shares the machine's moods.
        previous = stack.start_worker(
            "bench-previous",
            web_port=previous_port,
            precision="int8",
            group_id="bench-previous",
            **PREVIOUS_TOPICS,
            **common,
        )
        bench.results["max_wait_ms"] = settings.max_wait_ms
        try:
            await run_streams(bench, stack, worker, port, previous_port)
        finally:
            worker.stop(timeout_s=60)
            previous.stop(timeout_s=60)
