"""The explanation-cost phase's pure parts: the flag-rate mix, the per-post record, the
on/off figures and the stall verdict, on made-up timestamps (no time is asserted), and
its registration as a phase of its own."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from moderation_lab.bench.data import BenchPost
from moderation_lab.bench.explaining import (
    STALL_RATIO,
    flagged_pool,
    paced_figures,
    per_post,
    stall_verdict,
    with_flag_share,
)
from moderation_lab.bench.main import PHASES, _parser
from moderation_lab.demo.categories import RUDE_POSTS


def _posts(n: int) -> list[BenchPost]:
    return [BenchPost(f"p-{i}", f"tweet {i}", f"/bench/{i}.jpg", None) for i in range(n)]


def test_the_share_of_flagged_texts_is_the_one_asked_for_spread_evenly() -> None:
    pool = [f"rude {i}" for i in range(100)]
    mixed = with_flag_share(_posts(200), pool, 0.05)
    replaced = [i for i, p in enumerate(mixed) if p.text.startswith("rude")]
    assert len(replaced) == 10
    gaps = {b - a for a, b in itertools.pairwise(replaced)}
    assert gaps == {20}  # one in every twenty, never a clump
    # only the text changes: the post keeps its id, its photo and its reference
    for i in replaced:
        assert (mixed[i].id, mixed[i].image_path) == (f"p-{i}", f"/bench/{i}.jpg")
    assert [p.text for p in mixed if p.text.startswith("rude")] == [f"rude {i}" for i in range(10)]


def test_streams_from_distinct_starts_share_no_flagged_text_even_past_the_pool() -> None:
    pool = ["a", "b", "c"]
    first = with_flag_share(_posts(40), pool, 0.1)
    second = with_flag_share(_posts(40), pool, 0.1, first=4)
    texts = [p.text for p in first + second if p.text in pool or p.text[0] in "abc"]
    assert len(texts) == 8 and len(set(texts)) == 8  # laps get a number, never a repeat
    assert with_flag_share(_posts(10), pool, 0.0) == _posts(10)
    assert all(p.text in pool or p.text[0] in "abc" for p in with_flag_share(_posts(6), pool, 1.0))
    with pytest.raises(ValueError, match="share"):
        with_flag_share(_posts(3), pool, 1.5)


def test_the_flagged_pool_is_the_hate_and_offensive_tweets_or_the_demo_posts(tmp_path: Path) -> None:
    folder = tmp_path / "hate-offensive"
    folder.mkdir()
    with (folder / "train.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"])
        for n, (label, text) in enumerate([("0", "hateful"), ("1", "rude"), ("2", "polite"), ("1", "rude")]):
            writer.writerow([n, 3, 0, 0, 0, label, text])
    texts, source = flagged_pool(tmp_path)
    assert texts == ["hateful", "rude"] and "hate-offensive" in source
    assert flagged_pool(None)[0] == list(RUDE_POSTS)
    assert flagged_pool(tmp_path / "elsewhere")[0] == list(RUDE_POSTS)


def test_per_post_reports_the_median_per_post_and_the_passes_of_every_group() -> None:
    calls: list[int] = []

    def run(chunk: Sequence[str]) -> int:
        calls.append(len(chunk))
        return 10 * len(chunk)

    figures = per_post(run, ["a", "b", "c", "d", "e"], 2)
    assert calls == [2, 2, 1]
    assert figures["passes_per_post"] == 10.0
    assert (figures["posts"], figures["groups"]) == (5, 3)
    assert figures["ms_per_post"] >= 0.0


def _stream(latency: dict[str, int], batch: float, wait: float) -> tuple[Any, Any, Any]:
    sent = {post: 1_000 * n for n, post in enumerate(latency)}
    seen = {post: sent[post] + ms for post, ms in latency.items()}
    timings = {
        post: {"queue_ms": wait + 5.0, "fetch_ms": 5.0, "inference_ms": batch, "explain_ms": 40.0}
        for post in latency
    }
    return sent, seen, timings


def test_the_paced_figures_keep_the_flagged_posts_apart() -> None:
    latency = {f"p{i}": 100 for i in range(19)} | {"flag": 400}
    sent, seen, timings = _stream(latency, batch=60.0, wait=10.0)
    figures = paced_figures(sent, seen, timings, {"flag"})
    assert (figures["posts"], figures["flagged"], figures["flagged_share"]) == (20, 1, 0.05)
    assert figures["others_p99_ms"] == 100 and figures["flagged_p50_ms"] == 400
    assert figures["p99_ms"] == 400
    assert figures["parts_ms"]["batch"]["p50"] == 60.0 and figures["parts_ms"]["wait"]["p99"] == 10.0
    assert (figures["explain_ms_p50"], figures["explained"]) == (40.0, 1)


def test_the_loop_stalled_only_when_the_batches_or_the_queue_took_longer() -> None:
    latency = {f"p{i}": 100 for i in range(20)}
    off = paced_figures(*_stream(latency, batch=60.0, wait=10.0), set())
    same = paced_figures(*_stream(latency, batch=62.0, wait=12.0), set())
    verdict = stall_verdict(same, off)
    assert verdict["loop_stalled"] is False and verdict["stall_ratio"] == STALL_RATIO
    assert verdict["ratios"]["batch_compute_p50"] == pytest.approx(62 / 60)
    slow_batches = paced_figures(*_stream(latency, batch=60.0 * STALL_RATIO, wait=10.0), set())
    assert stall_verdict(slow_batches, off)["loop_stalled"] is True
    queued = paced_figures(*_stream(latency, batch=60.0, wait=300.0), set())
    assert stall_verdict(queued, off)["loop_stalled"] is True
    # a few ms more of queue wait is no stall, whatever its ratio
    barely = paced_figures(*_stream(latency, batch=60.0, wait=25.0), set())
    assert stall_verdict(barely, off)["loop_stalled"] is False


def test_the_phase_is_registered_and_runs_alone() -> None:
    assert "explanation cost" in PHASES
    assert PHASES.index("explanation cost") > PHASES.index("deployable configuration")
    args = _parser().parse_args(["--phases", "explanation cost", "--explain-flag-share", "0.1"])
    assert args.explain_flag_share == 0.1 and args.explain_rounds >= 1


def test_the_median_of_the_rounds_p99_is_compared_when_the_rounds_are_known() -> None:
    latency = {f"p{i}": 100 for i in range(20)}
    on = paced_figures(*_stream(latency, batch=60.0, wait=10.0), set())
    off = paced_figures(*_stream(latency, batch=60.0, wait=10.0), set())
    assert "p99_median_of_rounds" not in stall_verdict(on, off)["ratios"]
    on["p99_ms_median_of_rounds"], off["p99_ms_median_of_rounds"] = 300.0, 600.0
    assert stall_verdict(on, off)["ratios"]["p99_median_of_rounds"] == 0.5
