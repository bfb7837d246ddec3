"""``python -m moderation_lab.bench.known``: PDQ bank lookups against HMA's target.

Meta's Hasher-Matcher-Actioner aims at 10 million indexed hashes and 4,000 lookups per
second. This measures, at several bank sizes, the worker's multi-index
(:mod:`worker.known.index`) beside a brute-force scan: lookups per second on one core,
build time, memory (in process, and what a worker keeps privately when it maps the
saved index instead), then near-duplicate recall and false matches with generated
images (:mod:`moderation_lab.samples`) hidden among the random bank hashes.
Prints a table and writes ``bench-known-results.json``; about 2-3 minutes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from moderation_lab.bench.progress import Progress
from moderation_lab.bench.record import Record, recorded_phase, run_recorded
from moderation_lab.samples import EDITS, sample_image
from worker.known.index import HashIndex, brute_force
from worker.known.pdq import compute_pdq

__all__ = ["main"]

HMA_HASHES, HMA_LOOKUPS_PER_S = 10_000_000, 4_000
THRESHOLD = 31


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _rates(search: Callable[[bytes], object], queries: list[bytes], budget_s: float) -> tuple[float, float]:
    """Lookups per wall-clock second and per CPU second of this process, over as many
    queries as fit in ``budget_s``. On a shared machine the process may get a fraction of
    a core: the CPU-second figure is what one core of its own would answer."""
    started, cpu, done = time.perf_counter(), time.process_time(), 0
    for query in queries:
        search(query)
        done += 1
        if time.perf_counter() - started > budget_s:
            break
    wall, used = time.perf_counter() - started, time.process_time() - cpu
    return done / wall, done / max(used, 1e-9)


def _rounded(rates: tuple[float, float]) -> tuple[float, float]:
    return round(rates[0], 2), round(rates[1], 2)


def measure_size(
    n: int,
    planted: np.ndarray,
    rng: np.random.Generator,
    budget_s: float,
    copies: dict[str, list[bytes]] | None,
) -> dict[str, Any]:
    """Build, look up and map an index of ``n`` hashes (the planted ones among them);
    with ``copies``, the near-duplicate recall against it too."""
    hashes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    hashes[: len(planted)] = planted[:n]
    queries = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(2000)]
    anon_before = _status_kb("RssAnon")
    started = time.perf_counter()
    index = HashIndex.build(hashes)
    build_s = time.perf_counter() - started
    anon_built = _status_kb("RssAnon") - anon_before
    row: dict[str, Any] = {
        "hashes": n,
        "build_s": round(build_s, 2),
        "index_mb": round(index.nbytes() / 2**20, 1),
        "private_mb_in_process": round(anon_built / 1024, 1),
    }
    row["lookups_per_s"], row["lookups_per_cpu_s"] = _rounded(
        _rates(partial(index.search, radius=THRESHOLD), queries, budget_s)
    )
    row["brute_force_lookups_per_s"], row["brute_force_lookups_per_cpu_s"] = _rounded(
        _rates(partial(brute_force, hashes, radius=THRESHOLD), queries, budget_s)
    )
    ratio = row["lookups_per_cpu_s"] / row["brute_force_lookups_per_cpu_s"]
    row["speedup_over_brute_force"] = round(ratio, 1)
    if copies is not None:
        row["recall"] = recall(index, hashes, copies)
    with tempfile.TemporaryDirectory() as folder:
        index.save(Path(folder))
        del index
        anon_before, file_before = _status_kb("RssAnon"), _status_kb("RssFile")
        mapped = HashIndex.load(Path(folder))
        row["mapped_lookups_per_s"], row["mapped_lookups_per_cpu_s"] = _rounded(
            _rates(partial(mapped.search, radius=THRESHOLD), queries, budget_s)
        )
        # The mapped pages belong to the page cache, shared by every worker that maps the file.
        row["private_mb_mapped"] = round(max(0, _status_kb("RssAnon") - anon_before) / 1024, 1)
        row["shared_mb_mapped"] = round((_status_kb("RssFile") - file_before) / 1024, 1)
        del mapped
    return row


def near_duplicates(seeds: range) -> tuple[np.ndarray, dict[str, list[bytes]], list[float]]:
    """Hashes of the originals, of each edit of them, and PDQ's time per image."""
    originals: list[bytes] = []
    copies: dict[str, list[bytes]] = {name: [] for name in EDITS}
    times: list[float] = []
    for seed in seeds:
        image = sample_image(seed)
        started = time.perf_counter()
        originals.append(compute_pdq(image).digest)
        times.append((time.perf_counter() - started) * 1000)
        for name, edit in EDITS.items():
            copies[name].append(compute_pdq(edit(image)).digest)
    planted = np.frombuffer(b"".join(originals), dtype=np.uint8).reshape(-1, 32)
    return planted, copies, times


def recall(index: HashIndex, hashes: np.ndarray, copies: dict[str, list[bytes]]) -> dict[str, Any]:
    """Share of each edit's copies found at their original's row; index and scan compared."""
    out: dict[str, Any] = {}
    for name, digests in copies.items():
        found = [row for row, query in enumerate(digests) if row in dict(index.search(query, THRESHOLD))]
        same = all(index.search(q, THRESHOLD) == brute_force(hashes, q, THRESHOLD) for q in digests[:5])
        out[name] = {"recall": round(len(found) / len(digests), 3), "index_equals_brute_force": same}
    return out


def false_matches(index: HashIndex, seeds: range) -> dict[str, Any]:
    hits = sum(bool(index.search(compute_pdq(sample_image(s)).digest, THRESHOLD)) for s in seeds)
    return {"unrelated_images": len(seeds), "matched": hits}


def print_report(r: dict[str, Any]) -> None:
    console = Console(width=140)
    table = Table(
        title=f"PDQ bank lookups (threshold {THRESHOLD}, one thread; HMA: "
        f"{HMA_HASHES:,} hashes at {HMA_LOOKUPS_PER_S:,} lookups/s)"
    )
    columns = [
        "hashes",
        "build_s",
        "index_mb",
        "private_mb_in_process",
        "lookups_per_s",
        "lookups_per_cpu_s",
        "mapped_lookups_per_cpu_s",
        "private_mb_mapped",
        "brute_force_lookups_per_cpu_s",
        "speedup_over_brute_force",
    ]
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for row in r["sizes"]:
        table.add_row(*(f"{row[c]:,}" for c in columns))
    console.print(table)
    edits = Table(
        title=f"near-duplicates of {r['originals']} generated images among "
        f"{r['recall_bank_hashes']:,} bank hashes"
    )
    for column in ("edit", "recall", "index = brute force"):
        edits.add_column(column)
    for name, row in r["recall"].items():
        edits.add_row(name, f"{row['recall']:.3f}", str(row["index_equals_brute_force"]))
    console.print(edits)
    fm = r["false_matches"]
    console.print(
        f"false matches: {fm['matched']} of {fm['unrelated_images']} unrelated generated images; "
        f"PDQ per 320x240 image: {r['pdq_ms_median']:.2f} ms (median)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default="10000,100000,1000000,10000000",
        help="bank sizes, comma-separated (the largest also serves the recall test)",
    )
    parser.add_argument("--budget-s", type=float, default=4.0, help="seconds per lookup-rate figure")
    parser.add_argument("--images", type=int, default=200, help="generated originals for recall")
    parser.add_argument("--unrelated", type=int, default=500, help="unrelated images for false matches")
    parser.add_argument("--out", type=Path, default=Path("bench-known-results.json"))
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    rng = np.random.default_rng(17)
    r: dict[str, Any] = {"threshold": THRESHOLD, "originals": args.images, "sizes": []}
    names = ["near-duplicates", *(f"bank of {n:,}" for n in sizes), "false matches"]
    progress, record = Progress(names), Record(args.out, r)

    def run() -> None:
        found: dict[str, Any] = {}

        def originals() -> None:
            found["planted"], found["copies"], pdq_ms = near_duplicates(range(args.images))
            r["pdq_ms_median"] = round(statistics.median(pdq_ms), 3)

        recorded_phase(
            progress, record, names[0], f"{args.images} generated images and their edits", originals
        )
        for n in sizes:
            recall = found["copies"] if n == sizes[-1] else None

            def one_size(n: int = n, recall: Any = recall) -> None:
                row = measure_size(n, found["planted"], rng, args.budget_s, recall)
                r["sizes"].append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "recall"}), flush=True)

            size = f"build, then lookups for {args.budget_s:g} s" + (" and recall" if recall else "")
            recorded_phase(progress, record, f"bank of {n:,}", size, one_size)
        r["recall_bank_hashes"] = sizes[-1]
        r["recall"] = r["sizes"][-1].pop("recall")
        bank = np.ascontiguousarray(found["planted"])
        # Unrelated images against the generated originals themselves: the hardest case,
        # since drawings from one generator resemble each other more than random hashes do.
        unrelated = range(10_000, 10_000 + args.unrelated)
        recorded_phase(
            progress,
            record,
            names[-1],
            f"{args.unrelated} unrelated images",
            lambda: r.__setitem__("false_matches", false_matches(HashIndex.build(bank), unrelated)),
        )
        record.save(progress.done, complete=True)

    status = run_recorded(progress, record, run)
    if status:
        return status
    print_report(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
