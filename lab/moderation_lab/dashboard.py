"""The Grafana dashboard of ``deploy/grafana/moderation-worker.json``, built with Grafana's
own Foundation SDK (``grafana-foundation-sdk``) from the metrics the worker exports and the
alert rules read, so the JSON is generated, never hand-edited.

Example::

    moderation-lab dashboard            # writes deploy/grafana/moderation-worker.json
    moderation-lab dashboard --check    # fails if the file is out of date
"""

from __future__ import annotations

from pathlib import Path

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

__all__ = ["build", "dashboard_path", "render"]

UID = "moderation-worker"
JOB = 'job="moderation-worker"'
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# Counters are read over Grafana's own rate window (at least four scrapes).
RATE = "[$__rate_interval]"

#: (row title, [(panel title, unit, [(PromQL, legend)])]). Each alert rule reads one of these.
PANELS: list[tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = [
    (
        "Health",
        [
            (
                "Workers up / ready",
                "short",
                [
                    (f"sum(up{{{JOB}}})", "up"),
                    ("sum(moderation_ready)", "ready"),
                ],
            ),
            (
                "Assigned partitions, by worker",
                "short",
                [
                    ("moderation_assigned_partitions", "{{instance}}"),
                ],
            ),
            (
                "Rebalances",
                "short",
                [
                    (f"sum(increase(moderation_rebalances_total{RATE}))", "rebalances"),
                ],
            ),
        ],
    ),
    (
        "Throughput",
        [
            (
                "Posts read, verdicts and flags per second",
                "ops",
                [
                    (f"sum(rate(moderation_posts_consumed_total{RATE}))", "read"),
                    (f"sum(rate(moderation_verdicts_published_total{RATE}))", "verdicts"),
                    (f"sum(rate(moderation_flagged_verdicts_published_total{RATE}))", "flagged"),
                ],
            ),
            (
                "Dead letters per second, by reason",
                "ops",
                [
                    (f"sum by (reason) (rate(moderation_dead_letters_total{RATE}))", "{{reason}}"),
                ],
            ),
            (
                "Degraded verdicts per second, by part",
                "ops",
                [
                    (f"sum by (part) (rate(moderation_degraded_verdicts_published_total{RATE}))", "{{part}}"),
                ],
            ),
        ],
    ),
    (
        "Backlog and latency",
        [
            (
                "Consumer lag (records), by topic",
                "short",
                [
                    ("sum by (topic) (moderation_consumer_lag)", "{{topic}}"),
                ],
            ),
            (
                "End-to-end latency",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(moderation_end_to_end_latency_seconds_bucket{RATE})))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.99)
                ],
            ),
            (
                "Posts in flight, by worker",
                "short",
                [
                    ("moderation_posts_in_flight", "{{instance}}"),
                ],
            ),
            (
                "Batches: mean size; p99 wait and compute (s)",
                "short",
                [
                    (
                        f"sum(rate(moderation_batch_size_sum{RATE}))"
                        f" / sum(rate(moderation_batch_size_count{RATE}))",
                        "posts per batch",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) "
                        f"(rate(moderation_batch_compute_seconds_bucket{RATE})))",
                        "compute p99 (s)",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) "
                        f"(rate(moderation_batch_wait_seconds_bucket{RATE})))",
                        "wait p99 (s)",
                    ),
                ],
            ),
        ],
    ),
    (
        "Dependencies",
        [
            (
                "Publish errors and retries per second",
                "ops",
                [
                    (f"sum(rate(moderation_publish_errors_total{RATE}))", "errors"),
                    (f"sum(rate(moderation_publish_retries_total{RATE}))", "retries"),
                ],
            ),
            (
                "Image fetches per second, by outcome",
                "ops",
                [
                    (f"sum by (outcome) (rate(moderation_image_fetches_total{RATE}))", "{{outcome}}"),
                ],
            ),
            (
                "What posts hold that was not used: refused image URLs, long texts",
                "ops",
                [
                    (
                        f"sum by (reason) (rate(moderation_image_urls_refused_total{RATE}))",
                        "refused: {{reason}}",
                    ),
                    (f"sum(rate(moderation_windowed_texts_total{RATE}))", "texts in windows"),
                    (f"sum(rate(moderation_text_windows_scored_total{RATE}))", "windows scored"),
                ],
            ),
            (
                "Embedding cache hit ratio",
                "percentunit",
                [
                    (
                        f'sum(rate(moderation_cache_lookups_total{{result="hit"}}{RATE})) '
                        f"/ sum(rate(moderation_cache_lookups_total{RATE}))",
                        "hit ratio",
                    ),
                ],
            ),
        ],
    ),
    (
        "Process",
        [
            (
                "Resident memory, by worker",
                "bytes",
                [
                    ("process_resident_memory_bytes and on (job, instance) moderation_ready", "{{instance}}"),
                ],
            ),
            (
                "CPU (cores), by worker",
                "short",
                [
                    (
                        f"rate(process_cpu_seconds_total{RATE}) and on (job, instance) moderation_ready",
                        "{{instance}}",
                    ),
                ],
            ),
            (
                "Garbage-collector pauses (s per s), by generation",
                "percentunit",
                [
                    (
                        f"sum by (generation) (rate(moderation_gc_pause_seconds_sum{RATE}))",
                        "gen {{generation}}",
                    ),
                ],
            ),
        ],
    ),
]


def _query(expr: str, legend: str, index: int) -> Dataquery:
    return Dataquery().expr(expr).legend_format(legend).ref_id("ABCDEFGH"[index]).datasource(DATASOURCE)


def _panel(panel_id: int, title: str, unit: str, queries: list[tuple[str, str]]) -> Timeseries:
    panel = Timeseries().id(panel_id).title(title).unit(unit).datasource(DATASOURCE).height(8).span(8)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, index))
    return panel


def build() -> Dashboard:
    """The dashboard: one row per concern, one panel per question an operator asks."""
    dashboard = (
        Dashboard("Moderation worker")
        .uid(UID)
        .tags(["moderation-worker", "kafka"])
        .description("Throughput, backlog, latency, errors and resources of moderation-worker.")
        .refresh("30s")
        .time("now-3h", "now")
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
        .with_panel(
            Stat()
            .id(1)
            .title("Ready workers")
            .datasource(DATASOURCE)
            .height(4)
            .span(24)
            .with_target(_query("sum(moderation_ready)", "ready", 0))
        )
    )
    panel_id = 1  # Grafana wants ids unique within the dashboard, rows included
    for row, panels in PANELS:
        panel_id += 1
        dashboard = dashboard.with_row(Row(row).id(panel_id))
        for title, unit, queries in panels:
            panel_id += 1
            dashboard = dashboard.with_panel(_panel(panel_id, title, unit, queries))
    return dashboard


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build().build()) + "\n"


def dashboard_path() -> Path:
    """``deploy/grafana/moderation-worker.json`` at the repository root."""
    return Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "moderation-worker.json"
