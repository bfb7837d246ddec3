"""The benchmark's table: figures, ratios against the baselines, and the targets."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["print_category_costs", "print_deployable", "print_guarantees", "print_table"]

TARGETS = (
    ("cold e2e / previous configuration", "e2e_over_previous", ">= 1.5", lambda v, r: v >= 1.5),
    ("every utilisation figure", "max_utilization", "<= 1", lambda v, r: v <= 1),
    ("cold streams' cache-hit ratio", "cold_cache_hit_ratio", "== 0", lambda v, r: v == 0),
    ("e2e / forward", "e2e_over_forward", ">= 0.85", lambda v, r: v >= 0.85),
    ("e2e / seed loop (all heads, cold)", "e2e_over_seed_loop", ">= 6", lambda v, r: v >= 6),
    ("text-only e2e / seed loop", "text_only_e2e_over_seed_loop", ">= 10", lambda v, r: v >= 10),
    ("repeated post cost / new post", "repeated_post_cost_ratio", "<= 0.05", lambda v, r: v <= 0.05),
    (
        "p99 latency at 70% load (ms)",
        "p99_latency_ms",
        "<= max_wait + 2 batches + outside",
        lambda v, r: v <= r["p99_latency_bound_ms"],
    ),
)


def backend_table(r: dict[str, Any]) -> Table:
    """Items/s per encoder and backend (the worker's, then OpenVINO's and CTranslate2's),
    the chosen one marked with *, and under each rate its utilisation (of its precision's
    peak) and cosine to torch fp32; "-" where a backend cannot run an encoder."""
    table_data = r["backend_table"]
    rows = table_data["encoders"]
    backends = list(dict.fromkeys(b for by_backend in rows.values() for b in by_backend))
    rounds = table_data.get("rounds")
    few = " (fewer than 3: indicative)" if table_data.get("few_samples") else ""
    title = f"encoders side by side (items/s at batch {table_data['batch']}; util, cosine)"
    if rounds is not None:
        title += f"; median of {rounds} rounds{few}"
    table = Table(title=title)
    table.add_column("encoder")
    for backend in backends:
        table.add_column(backend, justify="right")
    for encoder, by_backend in rows.items():
        cells = []
        for backend in backends:
            row = by_backend.get(backend)
            if row is None:
                cells.append("-")
                continue
            mark = "*" if table_data["chosen"][encoder] == backend else ""
            cells.append(f"{mark}{row['items_per_s']:.1f}\n{row['utilisation']:.2f}, {row['cosine_min']:.4f}")
        table.add_row(encoder, *cells)
    missing = table_data.get("missing", {})
    if missing:
        table.caption = "not measured: " + "; ".join(f"{name}: {why}" for name, why in missing.items())
    return table


def _met(check: Any, value: float, r: dict[str, Any]) -> bool:
    return bool(check(value, r))


def print_table(r: dict[str, Any]) -> None:
    console = Console(width=120)
    figures = Table(title=f"make bench ({r['config']['precision']}, batch {r['config']['max_batch']})")
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    for key in (
        "seed_loop_posts_per_s",
        "forward_posts_per_s",
        "e2e_posts_per_s",
        "e2e_repeat_posts_per_s",
        "cache_hit_ratio",
        "e2e_all_repeat_posts_per_s",
        "text_only_seed_loop_posts_per_s",
        "text_only_forward_posts_per_s",
        "text_only_e2e_posts_per_s",
        "p50_latency_ms",
        "p99_latency_ms",
        "p99_latency_bound_ms",
        "p99_latency_bound_two_mean_batches_ms",
        "batch_compute_ms_mean",
        "paced_full_gc_count",
        "paced_full_gc_pause_ms_total",
        "previous_e2e_posts_per_s",
        "e2e_over_previous",
        "cold_cache_hit_ratio",
        "matmul_gflops",
        "flops_per_post",
        "text_only_flops_per_post",
        "flop_utilization",
        "forward_flop_utilization",
        "peak_rss_mb",
        "rss_growth_mb_last_vs_first_third",
    ):
        value = r.get(key)
        figures.add_row(key, f"{value:,.3f}" if isinstance(value, float) else str(value))
    for key in (
        "seed_loop_posts_per_s_runs",
        "forward_posts_per_s_runs",
        "e2e_posts_per_s_runs",
        "e2e_over_forward_runs",
        "text_only_seed_loop_posts_per_s_runs",
        "text_only_forward_posts_per_s_runs",
        "text_only_e2e_posts_per_s_runs",
        "previous_e2e_posts_per_s_runs",
    ):
        figures.add_row(key + " (median above)", ", ".join(f"{v:.3f}" for v in r.get(key, [])))
    figures.add_row("batch_size_histogram", str(r.get("batch_size_histogram")))
    figures.add_row("paced_batch_size_histogram", str(r.get("paced_batch_size_histogram")))
    parts = r.get("paced_latency_parts_ms", {})
    figures.add_row(
        "paced latency parts, p50 / p99 ms",
        ", ".join(f"{name} {p['p50']:,.0f} / {p['p99']:,.0f}" for name, p in parts.items()),
    )
    figures.add_row(
        "paced_slowest 2% (s into the run: ms)",
        " ".join(f"{at:g}:{ms:.0f}" for at, ms in r.get("paced_slowest", [])),
    )
    for key in ("flop_utilization_by_precision", "forward_flop_utilization_by_precision", "gemm_peaks"):
        figures.add_row(key, ", ".join(f"{k}={v:,.3g}" for k, v in r.get(key, {}).items()))
    if "agreement" in r:
        figures.add_row("chosen vs fp32", ", ".join(f"{k}={v:.4f}" for k, v in r["agreement"].items()))
    if "decode_agreement" in r:
        figures.add_row(
            "reduced vs full JPEG decode", ", ".join(f"{k}={v:.5f}" for k, v in r["decode_agreement"].items())
        )
    console.print(figures)
    console.print(backend_table(r))
    targets = Table(title="targets")
    for column in ("target", "measured", "wanted", "met"):
        targets.add_column(column)
    for name, key, wanted, check in TARGETS:
        value = r[key]
        targets.add_row(name, f"{value:.3f}", wanted, "yes" if _met(check, value, r) else "NO")
    for encoder, ratio in r["chosen_over_fastest_backend"].items():
        met = "yes" if ratio >= 0.95 and r.get("chosen_agrees_with_fp32", {}).get(encoder, True) else "NO"
        any_backend = r.get("chosen_over_fastest_any_backend", {}).get(encoder, ratio)
        targets.add_row(
            f"{encoder}: chosen / fastest agreeing backend (/ fastest of all)",
            f"{ratio:.3f} ({any_backend:.3f})",
            ">= 0.95, agreeing",
            met,
        )
    console.print(targets)


def print_guarantees(g: dict[str, Any]) -> None:
    """At-least-once beside exactly-once, from the same run."""
    table = Table(title=f"processing guarantees ({g['models']} models, {g['broker']}, read_committed reader)")
    table.add_column("figure")
    for column in ("at-least-once", "exactly-once"):
        table.add_column(column, justify="right")
    for key in ("posts_per_s", "p50_latency_ms", "p99_latency_ms"):
        table.add_row(key, *(f"{g[name][key]:,.1f}" for name in ("at_least_once", "exactly_once")))
    table.add_section()
    table.add_row("exactly-once throughput / at-least-once", f"{g['eos_throughput_ratio']:.3f}", "")
    table.add_row(
        "exactly-once added p50 / p99 latency (ms)",
        f"{g['eos_added_p50_latency_ms']:,.0f}",
        f"{g['eos_added_p99_latency_ms']:,.0f}",
    )
    Console(width=120).print(table)


def print_category_costs(c: dict[str, Any]) -> None:
    """Each kind of added category: milliseconds per post (or image), and over the forward pass."""
    title = (
        f"what a category costs (batch {c['batch']}; forward pass of every head "
        f"{c['forward_ms_per_post']:,.1f} ms a post)"
    )
    table = Table(title=title)
    for column in ("category", "ms", "per", "/ forward pass", "why"):
        table.add_column(column, justify="right" if column in ("ms", "/ forward pass") else "left")
    for name, row in c["rows"].items():
        table.add_row(
            name, f"{row['ms_per_item']:,.2f}", row["per"], f"{row['over_forward_pass']:.3f}", row["note"]
        )
    Console(width=120).print(table)


def print_deployable(d: dict[str, Any]) -> None:
    """The configuration users deploy: cold rate, per core, latency at 70% load."""
    config = d["configuration"]
    title = (
        f"deployable configuration (trained: {', '.join(config['trained']) or 'none'}; CLIP {config['clip']})"
    )
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    samples = d["samples"]
    few = ", fewer than 3: indicative" if samples["few_samples"] else ""
    table.add_row(f"cold posts/s (median of {samples['runs']}{few})", f"{d['posts_per_s']:.2f}")
    table.add_row(f"cold posts/s per core ({d['cores']} cores)", f"{d['posts_per_s_per_core']:.2f}")
    table.add_row("runs", ", ".join(f"{v:.2f}" for v in d["posts_per_s_runs"]))
    table.add_row(
        f"p50 / p99 ms at {d['paced_rate_posts_per_s']:.2f} posts/s (70%)",
        f"{d['p50_latency_ms']:,.0f} / {d['p99_latency_ms']:,.0f}",
    )
    table.add_row("posts per cold stream / paced", f"{d['posts_per_stream']} / {d['paced_posts']}")
    Console(width=120).print(table)
