"""A real Prometheus server (Debian's package) scrapes a running worker, evaluates the
alert rules of ``deploy/prometheus/alerts.yml``, and raises the not-ready alert when the
broker is killed. Its own module, so the killed broker is this module's stack only."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from moderation_lab.dashboard import dashboard_path
from moderation_lab.embedded.kafka_io import collect, produce
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.prometheus import EmbeddedPrometheus
from moderation_lab.embedded.stack import EmbeddedStack
from moderation_lab.errors import ServiceError

from tests.conftest import _unavailable
from tests.integration.test_operations import wait_ready
from tests.integration.test_worker import Topics, sample_posts, verdict_ids

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"


def rules_for_a_test(hold: str = "2s") -> str:
    """The production rules with every ``for:`` cut to ``hold``, so alerts fire in seconds."""
    groups = yaml.safe_load(RULES.read_text())
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule["for"] = hold
    return yaml.safe_dump(groups)


def eventually(probe: Callable[[], Any], what: str, timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = probe()
        if answer:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"{what}: not seen within {timeout_s:.0f} s")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[int], EmbeddedPrometheus]]:
    started: list[EmbeddedPrometheus] = []

    def start(worker_port: int) -> EmbeddedPrometheus:
        server = EmbeddedPrometheus(
            tmp_path / "prometheus", targets=[f"127.0.0.1:{worker_port}"], rules=rules_for_a_test()
        )
        started.append(server)
        try:
            server.start()
        except ServiceError as exc:
            _unavailable("prometheus (Debian package)", exc)
        return server

    yield start
    for server in started:
        server.stop()


def value(server: EmbeddedPrometheus, promql: str) -> float | None:
    result = server.query(promql)
    return float(result[0]["value"][1]) if result else None


def test_prometheus_scrapes_the_worker_and_fires_not_ready_when_the_broker_dies(
    stack: EmbeddedStack, prometheus: Callable[[int], EmbeddedPrometheus]
) -> None:
    topics = Topics()
    asyncio.run(topics.create(stack.broker.url))
    port = free_port()
    worker = stack.start_worker("w-prom", web_port=port, health_interval_s=0.5, **topics.settings())
    wait_ready(port)
    server = prometheus(port)

    posts = sample_posts(stack, 8, "pr")
    asyncio.run(produce(stack.broker.url, topics.posts, posts))
    expected = {key.decode() for key, _ in posts}
    asyncio.run(
        collect(
            stack.broker.url,
            [topics.verdicts],
            lambda records: expected <= set(verdict_ids(records, topics.verdicts)),
            120,
        )
    )
    job = '{job="moderation-worker"}'
    eventually(lambda: value(server, f"up{job}") == 1, "the worker scraped")
    eventually(
        lambda: value(server, f"moderation_verdicts_published_total{job}") == len(posts),
        "the verdicts counted",
    )
    # Series that exist from the start, at 0, and what the rebalance hook reported.
    assert value(server, 'moderation_dead_letters_total{reason="no_usable_content"}') == 0
    assert value(server, "moderation_ready") == 1
    assert value(server, "moderation_assigned_partitions") == 4
    assert (value(server, "moderation_rebalances_total") or 0) >= 1
    assert (value(server, "process_resident_memory_bytes") or 0) > 0
    assert not [a for a in server.alerts() if a["labels"]["alertname"] == "ModerationWorkerNotReady"]
    # Every query of the Grafana dashboard is one this Prometheus accepts (a bad one
    # answers HTTP 400, which raises here); the readiness panel shows this worker.
    panels = json.loads(dashboard_path().read_text())["panels"]
    queries = [t["expr"] for panel in panels for t in panel.get("targets", [])]
    answered = {q: server.query(q.replace("$__rate_interval", "10s")) for q in queries}
    assert len(answered) > 20 and answered["sum(moderation_ready)"][0]["value"][1] == "1"

    stack.broker.stop()

    def not_ready_alert() -> list[dict[str, Any]]:
        alerts = server.alerts()
        return [a for a in alerts if a["labels"]["alertname"] == "ModerationWorkerNotReady"]

    [pending_or_firing] = eventually(not_ready_alert, "ModerationWorkerNotReady pending")
    assert pending_or_firing["state"] in {"pending", "firing"}
    assert pending_or_firing["labels"]["instance"] == f"127.0.0.1:{port}"
    [firing] = eventually(
        lambda: [a for a in not_ready_alert() if a["state"] == "firing"], "ModerationWorkerNotReady firing"
    )
    assert firing["annotations"]["runbook"] == "docs/operations.md#moderationworkernotready"
    assert value(server, "moderation_ready") == 0
    worker.stop(timeout_s=10)
