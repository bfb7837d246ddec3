"""The benchmark's arithmetic: spans from Kafka timestamps, histograms from Prometheus
buckets, the derived ratios, and streams that never share content by accident."""

from __future__ import annotations

import pytest
from moderation_lab.bench.data import BenchCorpus
from moderation_lab.bench.e2e import COLD_RUNS, _histogram, slowest
from moderation_lab.bench.run import derive
from moderation_lab.bench.stream import _timings, latency_parts, median, result


def test_result_spans_first_post_to_last_verdict() -> None:
    sent = {"a": 1_000, "b": 1_500, "c": 2_000}
    seen = {"a": 1_200, "b": 3_000, "c": 2_100, "other": 9_999}
    stream = result(sent, seen)
    assert stream.seconds == pytest.approx(2.0)  # 1000 -> 3000 ms; "other" is not ours
    assert stream.posts_per_s == pytest.approx(1.5)
    assert sorted(stream.latencies_ms) == [100.0, 200.0, 1500.0]
    assert stream.percentile(0.5) == 200.0
    assert stream.percentile(0.99) == 1500.0


def test_slowest_lists_the_worst_posts_in_sending_order() -> None:
    sent = {f"p{i}": 10_000 + 500 * i for i in range(100)}
    seen = {post: t + 200 for post, t in sent.items()}
    seen["p70"] += 900  # sent 35 s in, answered 1100 ms later
    seen["p10"] += 400
    seen["p90"] += 100
    assert slowest(sent, seen) == [[5.0, 600.0], [35.0, 1100.0]]
    assert slowest(sent, seen, share=0.03) == [[5.0, 600.0], [35.0, 1100.0], [45.0, 300.0]]


def test_histogram_turns_cumulative_buckets_into_counts() -> None:
    metrics = {
        'moderation_batch_size_bucket{le="1.0"}': 5.0,
        'moderation_batch_size_bucket{le="8.0"}': 12.0,
        'moderation_batch_size_bucket{le="+Inf"}': 12.0,
        "moderation_batch_size_count": 12.0,
    }
    assert _histogram(metrics, "moderation_batch_size_bucket") == {"<=1": 5, "<=8": 7, "+Inf": 0}


def test_derive_computes_ratios_and_the_latency_bound() -> None:
    rows = {
        "torch-fp32": {"items_per_s": 10.0, "utilisation": 0.2, "cosine_min": 1.0},
        "ort-int8": {"items_per_s": 20.0, "utilisation": 0.1, "cosine_min": 0.9995},
        # the fastest, but too far from fp32 to be chosen
        "torch-int8": {"items_per_s": 25.0, "utilisation": 0.1, "cosine_min": 0.998},
    }
    r = {
        "e2e_posts_per_s": 4.0,
        "forward_posts_per_s": 5.0,
        "e2e_posts_per_s_runs": [3.0, 4.0, 4.5],
        "forward_posts_per_s_runs": [4.0, 5.0, 5.0],
        "seed_loop_posts_per_s": 0.5,
        "text_only_e2e_posts_per_s": 15.0,
        "text_only_seed_loop_posts_per_s": 1.0,
        "previous_e2e_posts_per_s": 2.0,
        "e2e_all_repeat_posts_per_s": 400.0,
        # 1e10 fp32 FLOPs (text on torch fp32, heads) and 4e10 int8 (the CLIP image tower).
        "flops_per_post_by_part": {"text": 0.9e10, "heads": 0.1e10, "clip_image": 4e10},
        "text_only_flops_per_post_by_part": {"text": 1e9, "heads": 1e7},
        "backends_chosen": {"text": "torch-fp32", "clip_image": "ort-int8"},
        "gemm_peaks_runs": [{"fp32": 100e9, "int8": 400e9}, {"fp32": 50e9, "int8": 800e9}],
        "backend_table": {
            "encoders": {"clip_image": rows},
            "chosen": {"clip_image": "ort-int8"},
            "flops_per_item": {"clip_image": 1e9},
        },
        "max_wait_ms": 50.0,
        "batch_compute_ms_mean": 200.0,
        "paced_latency_parts_ms": {
            "batch": {"p50": 180.0, "p99": 260.0},
            "wait": {"p50": 90.0, "p99": 250.0},
            "outside": {"p50": 20.0, "p99": 40.0},
        },
    }
    derive(r)
    assert r["e2e_over_forward"] == pytest.approx(0.8)
    assert r["e2e_over_forward_runs"] == pytest.approx([0.75, 0.8, 0.9])
    assert r["e2e_over_seed_loop"] == pytest.approx(8.0)
    assert r["text_only_e2e_over_seed_loop"] == pytest.approx(15.0)
    assert r["e2e_over_previous"] == pytest.approx(2.0)
    assert r["repeated_post_cost_ratio"] == pytest.approx(0.01)
    assert r["flops_per_post"] == pytest.approx(5e10)
    # Each precision's FLOPs over its own peak: 4 posts/s x (1e10 / 1e11 + 4e10 / 8e11).
    assert r["flop_utilization_by_precision"] == pytest.approx({"fp32": 0.4, "int8": 0.2})
    assert r["flop_utilization"] == pytest.approx(0.6)
    assert r["forward_flop_utilization"] == pytest.approx(0.75)
    assert r["gemm_peaks"] == {"fp32": 100e9, "int8": 800e9}  # the highest of each
    assert rows["torch-fp32"]["utilisation"] == pytest.approx(0.1)  # against the final peaks
    assert r["max_utilization"] == pytest.approx(0.75)
    assert r["chosen_over_fastest_backend"] == {"clip_image": 1.0}
    assert r["chosen_over_fastest_any_backend"] == {"clip_image": pytest.approx(0.8)}
    assert r["chosen_agrees_with_fp32"] == {"clip_image": True}
    # The wait, two batches as the posts saw them (p99), and the p99 outside the batches.
    assert r["p99_latency_bound_ms"] == pytest.approx(50.0 + 2 * 260.0 + 40.0)
    assert r["p99_latency_bound_two_mean_batches_ms"] == pytest.approx(450.0)


def test_latency_parts_split_each_post_by_its_verdict_timings() -> None:
    sent = {f"p{i}": 1_000 * i for i in range(4)}
    # p0 ran at once; p1 waited 100 ms for the batch in progress; p2 was slower to fetch;
    # p3 is a dead letter (no timings) and p4 was never sent by this stream.
    timings = {
        "p0": {"fetch_ms": 10.0, "queue_ms": 10.0, "inference_ms": 200.0},
        "p1": {"fetch_ms": 10.0, "queue_ms": 110.0, "inference_ms": 300.0},
        "p2": {"fetch_ms": 60.0, "queue_ms": 60.0, "inference_ms": 200.0},
        "p4": {"fetch_ms": 0.0, "queue_ms": 0.0, "inference_ms": 9_999.0},
    }
    latency = {"p0": 230, "p1": 430, "p2": 280, "p3": 50}
    seen = {post: sent[post] + ms for post, ms in latency.items()}
    parts = latency_parts(sent, seen, timings)
    assert parts["batch"] == {"p50": 200.0, "p99": 300.0}
    assert parts["wait"] == {"p50": 0.0, "p99": 100.0}
    # Outside the batches: 230-200, 430-100-300, 280-200 (its fetch included).
    assert parts["outside"] == {"p50": 30.0, "p99": 80.0}


def test_the_watcher_reads_a_verdicts_timings_and_not_a_dead_letters() -> None:
    verdict = b'{"post_id": "p", "timings": {"fetch_ms": 1.5, "queue_ms": 2.0}}'
    assert _timings(verdict) == {"fetch_ms": 1.5, "queue_ms": 2.0}
    assert _timings(b'{"post_id": "p", "error": "bad"}') is None
    assert _timings(b"not json") is None
    assert _timings(None) is None


def test_median_of_runs_ignores_one_slow_run() -> None:
    assert median([4.4, 3.1, 4.5]) == 4.4


def test_cold_streams_share_no_text_with_each_other_or_the_text_stream() -> None:
    pairs = [(f"first {i}", f"second {i}") for i in range(2000)]
    corpus, n = BenchCorpus(pairs), 40
    streams = [corpus.posts(n, f"cold{k}", with_images=True, start=k * n) for k in range(COLD_RUNS)]
    streams.append(corpus.posts(n, "text", with_images=False, start=COLD_RUNS * n))
    texts = [{p.text for p in stream} | {p.reference[1] for p in stream if p.reference} for stream in streams]
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            assert not a & b
    images = [set(BenchCorpus.image_paths(stream)) for stream in streams[:COLD_RUNS]]
    assert sum(len(i) for i in images) == len(set().union(*images))


def test_streams_past_the_end_of_the_pairs_still_share_no_text() -> None:
    corpus, n = BenchCorpus([(f"first {i}", f"second {i}") for i in range(50)]), 40
    streams = [corpus.posts(n, f"s{k}", with_images=False, start=k * n) for k in range(5)]
    texts = [{p.text for p in stream} | {p.reference[1] for p in stream if p.reference} for stream in streams]
    assert sum(len(t) for t in texts) == len(set().union(*texts))
    assert streams[0][0].text == "first 0"  # the first lap is verbatim


def test_tweets_repeated_in_the_data_come_once_in_a_stream() -> None:
    pairs = [("same claim", "reply a"), ("other claim", "reply b"), ("same claim", "reply c")]
    pairs += [("reply b", "reply d"), ("twice", "twice")] + [(f"first {i}", f"second {i}") for i in range(20)]
    corpus = BenchCorpus(pairs)
    assert corpus.pairs[:2] == [("same claim", "reply a"), ("other claim", "reply b")]
    stream = corpus.posts(40, "cold", with_images=True)
    texts = [p.text for p in stream] + [p.reference[1] for p in stream if p.reference]
    assert len(texts) == len(set(texts)) == 60
