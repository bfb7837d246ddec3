"""PipelineStats: the Prometheus series an operator reads, present from the start."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import generate_latest

from worker.errors import BlockedURL, FetchError
from worker.ops.metrics import DEGRADED_PARTS, PipelineStats, dead_letter_reasons, image_outcomes


@dataclass
class Slot:
    image: object | None = None
    error: FetchError | None = None


def sample(stats: PipelineStats, name: str, **labels: str) -> float | None:
    value: float | None = stats.registry.get_sample_value(name, labels)
    return value


def test_every_known_label_value_is_exported_at_zero() -> None:
    stats = PipelineStats()
    for reason in dead_letter_reasons():
        assert sample(stats, "moderation_dead_letters_total", reason=reason) == 0
    for part in DEGRADED_PARTS:
        assert sample(stats, "moderation_degraded_verdicts_published_total", part=part) == 0
    for outcome in image_outcomes():
        assert sample(stats, "moderation_image_fetches_total", outcome=outcome) == 0
    assert {"no_usable_content", "invalid_json", "model_error", "error"} <= set(dead_letter_reasons())
    assert {"ok", "memo", "blocked_url", "timeout", "http_status"} <= set(image_outcomes())


def test_process_metrics_share_the_registry() -> None:
    text = generate_latest(PipelineStats().registry).decode()
    assert "process_resident_memory_bytes" in text and "process_open_fds" in text
    assert "python_info" in text


def test_in_flight_is_read_when_scraped() -> None:
    stats, pending = PipelineStats(), [3]
    stats.watch_in_flight(lambda: pending[0])
    assert sample(stats, "moderation_posts_in_flight") == 3
    pending[0] = 0
    assert sample(stats, "moderation_posts_in_flight") == 0


def test_each_image_counts_once_by_outcome() -> None:
    stats = PipelineStats()
    stats.on_images([Slot(image=b"png"), Slot(), Slot(error=BlockedURL("10.0.0.1"))])
    assert stats.images == {"ok": 1, "memo": 1, "blocked_url": 1}
    assert sample(stats, "moderation_image_fetches_total", outcome="memo") == 1


def test_publish_errors_count_every_attempt_and_retries_only_the_retried() -> None:
    stats = PipelineStats()
    stats.on_publish_error(retried=True)
    stats.on_publish_error(retried=False)
    assert sample(stats, "moderation_publish_errors_total") == 2
    assert sample(stats, "moderation_publish_retries_total") == 1


def test_readiness_gauge() -> None:
    stats = PipelineStats()
    stats.set_ready(True)
    assert sample(stats, "moderation_ready") == 1
    stats.set_ready(False)
    assert sample(stats, "moderation_ready") == 0
