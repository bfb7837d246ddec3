"""Metrics and health endpoints of a running worker, scraped for real."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from moderation_lab.demo.data import invalid_records
from moderation_lab.embedded.kafka_io import Record, collect, produce
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_worker import Topics, sample_posts, verdict_ids

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def wait_ready(port: int, timeout_s: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
            if answer.status_code == 200:
                body: dict[str, object] = answer.json()
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("worker never became ready")


def test_metrics_count_what_was_sent_and_readiness_reports_the_parts(stack: EmbeddedStack) -> None:
    topics = Topics()
    url = stack.broker.url
    asyncio.run(topics.create(url))
    port = free_port()
    worker = stack.start_worker("w-ops", web_port=port, max_message_bytes=65_536, **topics.settings())
    ready = wait_ready(port)
    # The stack's CLIP labels have no chosen threshold: they only score, and /readyz says so.
    [clip_note] = ready.pop("missing")  # type: ignore[misc]
    assert "only score" in str(clip_note)
    assert ready == {
        "ready": True,
        "models_loaded": True,
        "pipeline_started": True,
        "broker_connected": True,
        "cache": "ok",
        "halted": None,
    }
    assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json() == {"alive": True}
    posts = sample_posts(stack, 60, "m")
    bad = [(s.key, s.value) for s in invalid_records()]
    asyncio.run(produce(url, topics.posts, posts + bad))
    expected = {key.decode() for key, _ in posts}

    def answered(records: list[Record]) -> bool:
        dead = sum(1 for r in records if r.topic == topics.dlq)
        return expected <= set(verdict_ids(records, topics.verdicts)) and dead >= len(bad)

    records = asyncio.run(collect(url, [topics.verdicts, topics.dlq], answered, 120))
    assert answered(records)
    time.sleep(6)  # one health interval, so consumer lag is measured after the stream
    metrics = scrape(port)
    assert worker.stop(timeout_s=30) == 0

    def value(name: str, **labels: str) -> float:
        return metrics.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("moderation_posts_consumed_total") == len(posts) + len(bad)
    assert value("moderation_verdicts_published_total") == len(posts)
    flagged = sum(1 for r in records if r.topic == topics.verdicts and json.loads(r.value)["flagged"])
    assert value("moderation_flagged_verdicts_published_total") == flagged
    assert value("moderation_dead_letters_total", reason="invalid_json") == 2
    assert value("moderation_dead_letters_total", reason="schema_violation") == 7
    assert value("moderation_dead_letters_total", reason="oversize") == 1
    assert value("moderation_batch_size_count") >= 1
    assert value("moderation_end_to_end_latency_seconds_count") == len(posts)
    assert value("moderation_cache_lookups_total", result="miss") > 0
    assert value("moderation_image_fetches_total", outcome="ok") > 0
    lags = [v for (name, _), v in metrics.items() if name == "moderation_consumer_lag"]
    assert lags and all(lag == 0 for lag in lags)
    assert any(name == "moderation_model_info" for name, _ in metrics)
    assert value("moderation_gc_pause_seconds_count", generation="0") > 0
    log_lines = [
        json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")
    ]
    assert any(line.get("kind") == "invalid_json" and "offset" in line for line in log_lines)
    frozen = [line["msg"] for line in log_lines if line["msg"].startswith("startup heap frozen")]
    assert frozen and int(frozen[0].split()[3]) > 10_000, frozen
    texts = [json.loads(value)["text"] for _, value in posts]
    assert not any(text in line["msg"] for line in log_lines for text in texts)
