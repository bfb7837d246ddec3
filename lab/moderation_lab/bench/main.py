"""``python -m moderation_lab.bench``: the phases of ``make bench``, each announced as it
starts with its planned size, its results written as soon as it ends, and what was
measured written with the reason when the run is stopped or a phase fails (see
:mod:`moderation_lab.bench.record`).

Phases can be run alone (``--phases "backend table"``) to check one quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from moderation_lab.bench.backends import available_backends
from moderation_lab.bench.data import BenchCorpus, photo
from moderation_lab.bench.deployable import deployable
from moderation_lab.bench.e2e import COLD_RUNS
from moderation_lab.bench.explaining import FLAG_SHARE, explanation_cost, print_explanations
from moderation_lab.bench.guarantees import guarantee_cost
from moderation_lab.bench.models import build_full_models
from moderation_lab.bench.peers import peer_versions
from moderation_lab.bench.progress import Progress
from moderation_lab.bench.record import Record, recorded_phase, run_recorded
from moderation_lab.bench.report import print_category_costs, print_deployable, print_guarantees, print_table
from moderation_lab.bench.run import (
    BASE_PHOTOS,
    TABLE_ITEMS,
    Bench,
    backend_phase,
    category_phase,
    derive,
    end_to_end,
    in_process,
)
from moderation_lab.bench.sizing import PassBudget
from moderation_lab.demo.data import find_data_dir
from worker.config.settings import Settings

__all__ = ["PHASES", "main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m moderation_lab.bench", description=__doc__)
    parser.add_argument("--posts", type=int, default=192, help="most posts per end-to-end stream")
    parser.add_argument(
        "--stream-seconds",
        type=float,
        default=30.0,
        help="size each cold stream to last about this long at the measured forward rate (48 posts at least)",
    )
    parser.add_argument("--seed-posts", type=int, default=12, help="posts for the baseline loop")
    parser.add_argument("--forward-posts", type=int, default=64)
    parser.add_argument("--table-rounds", type=int, default=3, help="most rounds of the backend table")
    parser.add_argument(
        "--table-seconds", type=float, default=300.0, help="no backend-table round started past this"
    )
    parser.add_argument(
        "--cold-seconds", type=float, default=900.0, help="no cold-stream round started past this"
    )
    parser.add_argument(
        "--no-peers",
        dest="peers",
        action="store_false",
        help="leave OpenVINO and CTranslate2 out of the backend table",
    )
    parser.add_argument(
        "--deployable-soak-seconds",
        type=float,
        default=180.0,
        help="paced run of the deployable configuration at 70%% load",
    )
    parser.add_argument(
        "--explain-soak-seconds",
        type=float,
        default=60.0,
        help="each paced round of the explanation cost (on and off alternate)",
    )
    parser.add_argument("--explain-rounds", type=int, default=3, help="paced rounds on, and as many off")
    parser.add_argument(
        "--explain-flag-share",
        type=float,
        default=FLAG_SHARE,
        help="share of posts in the explanation mix with a hate/offensive tweet's text",
    )
    parser.add_argument("--explain-method-posts", type=int, default=24, help="flagged texts per method")
    parser.add_argument("--soak-seconds", type=float, default=600.0, help="paced run at 70%% load")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "int8"],
        help="auto: each encoder on its chosen backend; int8 is the previous configuration",
    )
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
        "--categories-only",
        action="store_true",
        help="only what each kind of added category costs per post (full-size models)",
    )
    parser.add_argument(
        "--guarantees-only",
        action="store_true",
        help="only the short at-least-once vs exactly-once comparison (tiny models, noida-db)",
    )
    parser.add_argument(
        "--phases",
        default=None,
        help="comma-separated phases to run (default all): " + ", ".join(PHASES),
    )
    return parser


#: The phases of a full run, in order.
PHASES = (
    "models",
    "peaks and agreement",
    "backend table",
    "category costs",
    "end-to-end streams",
    "deployable configuration",
    "explanation cost",
    "guarantees",
)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.guarantees_only:
        figures = asyncio.run(guarantee_cost(Path(".run") / time.strftime("guarantees-%Y%m%d-%H%M%S")))
        args.out.write_text(json.dumps({"guarantees": figures}, indent=2, sort_keys=True) + "\n")
        print_guarantees(figures)
        print(f"wrote {args.out}")
        return 0
    wanted = PHASES if args.phases is None else tuple(p.strip() for p in args.phases.split(","))
    unknown = set(wanted) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phase(s) {', '.join(sorted(unknown))}; known: {', '.join(PHASES)}")
    if args.categories_only:
        wanted = ("models", "peaks and agreement", "category costs")
    progress = Progress([p for p in PHASES if p in wanted])
    corpus = BenchCorpus.load(find_data_dir())
    bench = Bench(args, corpus, {}, [photo(seed) for seed in range(BASE_PHOTOS)], progress=progress)
    record = Record(args.out, bench.results)
    return run_recorded(progress, record, lambda: run_phases(bench, wanted, record))


def run_phases(bench: Bench, wanted: Sequence[str], record: Record) -> None:
    """Each wanted phase announced, run, and its results written before the next."""
    args, progress, r = bench.args, bench.progress, bench.results
    started = time.monotonic()

    def phase(name: str, size: str, work: Callable[[], object]) -> None:
        if name in wanted:
            recorded_phase(progress, record, name, size, work)

    def models() -> None:
        bench.paths = build_full_models(args.models, bench.corpus.texts)

    r["config"] = {
        "precision": args.precision,
        "previous": "precision int8 (torch int8 BERT and CLIP, bf16 ResNet where native)",
        "max_batch": args.max_batch,
        "gc_freeze": args.gc_freeze,
        "models": {"text": "BERT-base", "image": "ResNet-34", "clip": "CLIP ViT-B/16"},
        "data": "shared/data tweet pairs" if find_data_dir() else "built-in sample",
        "phases": list(wanted),
    }
    phase(
        "models", "BERT-base, ResNet-34, CLIP ViT-B/16 with random weights (built once, then reused)", models
    )
    if not bench.paths and set(wanted) & set(PHASES[1:5]):  # they need the models even alone
        bench.paths = build_full_models(args.models, bench.corpus.texts)
    phase(
        "peaks and agreement",
        f"matmul peaks, FLOPs of {args.forward_posts} posts, fp32 vs chosen on 32, seed loop warm-up",
        lambda: in_process(bench),
    )
    installed = [name for name, version in peer_versions().items() if version != "not installed"]
    peers = f" + peers ({', '.join(installed) or 'none installed'})" if args.peers else ""
    table = f"{len(available_backends())} worker backends{peers} x 4 encoders, {TABLE_ITEMS} items each"
    budget = PassBudget(max_runs=args.table_rounds, seconds=args.table_seconds)
    phase("backend table", f"{table}, {budget.describe()}", lambda: backend_phase(bench))
    phase(
        "category costs",
        f"{args.forward_posts} posts, 5 kinds (fine-tuned: ONNX int8, fp32, cached), median of 5 passes",
        lambda: category_phase(bench),
    )
    rounds = PassBudget(max_runs=COLD_RUNS, seconds=args.cold_seconds)
    streams = (
        f"{rounds.describe()} of cold streams (all heads, text only, previous config), "
        f"then repeats, then {args.soak_seconds:.0f} s paced at 70% load"
    )
    phase("end-to-end streams", streams, lambda: asyncio.run(end_to_end(bench)))
    phase(
        "deployable configuration",
        "MiniLM + trained entailment and hate/offensive heads, open_nsfw, known-content banks: "
        f"cold streams within ~{args.cold_seconds / 3:.0f} s, then {args.deployable_soak_seconds:.0f} s "
        "paced at 70% load (trains the demo's heads once when missing)",
        lambda: r.__setitem__("deployable", asyncio.run(deployable(bench))),
    )
    phase(
        "explanation cost",
        f"per method on {args.explain_method_posts} flagged texts and 8 photos, then "
        f"{args.explain_rounds} x 2 rounds of {args.explain_soak_seconds:.0f} s paced at 70% load, "
        f"explanations on and off alternating, {args.explain_flag_share:.0%} flagged texts",
        lambda: r.__setitem__("explanations", asyncio.run(explanation_cost(bench))),
    )
    # The guarantees' cost, measured in the same run on tiny models (see bench.guarantees).
    workdir = Path(".run") / time.strftime("guarantees-%Y%m%d-%H%M%S")
    phase(
        "guarantees",
        "at-least-once vs exactly-once, tiny models on noida-db",
        lambda: r.__setitem__("guarantees", asyncio.run(guarantee_cost(workdir))),
    )
    r["bench_seconds"] = time.monotonic() - started
    if set(wanted) == set(PHASES):
        derive(r)
        record.save(progress.done, complete=True)
        print_table(r)
        print_guarantees(r["guarantees"])
    else:
        record.save(progress.done, complete=True)
    if "category_costs" in r:
        print_category_costs(r["category_costs"])
    if "deployable" in r:
        print_deployable(r["deployable"])
    if "explanations" in r:
        print_explanations(r["explanations"])
    progress.console.print(f"wrote {args.out}")
