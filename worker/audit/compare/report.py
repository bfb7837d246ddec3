"""A comparison as readable tables: what was compared, agreement, flips, score differences.

Example::

    for table in comparison_tables(result):
        console.print(table)
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from worker.audit.compare.diff import Comparison
from worker.audit.compare.load import VerdictSet

__all__ = ["comparison_tables"]


def _describe(side: str, s: VerdictSet) -> list[str]:
    models = "; ".join(f"{name} ({count})" for name, count in s.models.most_common(3))
    more = f" and {len(s.models) - 3} more" if len(s.models) > 3 else ""
    return [side, s.name, str(len(s.verdicts)), str(s.replaced), models + more]


def _sources(result: Comparison) -> Table:
    table = Table(title=f"Verdict sets ({len(result.joined)} posts in both)")
    for column in ("side", "source", "posts", "duplicates replaced", "models (weights / settings sha256)"):
        table.add_column(column, overflow="fold")
    table.add_row(*_describe("left", result.left))
    table.add_row(*_describe("right", result.right))
    if result.only_left or result.only_right:
        table.caption = f"only left: {result.only_left} posts, only right: {result.only_right} posts"
    return table


def _agreement(result: Comparison) -> Table:
    table = Table(title="Agreement per head (left → right)")
    for column in ("head", "compared", "agree", "agreement", "flips"):
        table.add_column(column, justify="right" if column in ("compared", "agree", "agreement") else "left")
    for head in result.heads:
        flips = ", ".join(f"{a} → {b}: {n}" for (a, b), n in head.flips.most_common()) or "-"
        style = "green" if head.rate == 1.0 else "yellow"
        table.add_row(
            head.head,
            str(head.compared),
            str(head.agree),
            Text(f"{100 * head.rate:.1f}%", style=style),
            flips,
        )
    table.caption = (
        f"verdicts identical apart from processing times: {result.identical} of {len(result.joined)}"
    )
    return table


def _examples(result: Comparison) -> Table | None:
    table = Table(title="Label flips: examples (left → right)")
    for column in ("head", "flip", "post", "left", "right"):
        table.add_column(column, overflow="fold")
    for head in result.heads:
        for (a, b), shown in sorted(head.examples.items()):
            for example in shown:
                table.add_row(
                    head.head, f"{a} → {b}", example.post_id, Text(example.left), Text(example.right)
                )
    return table if table.row_count else None


def _scores(result: Comparison) -> Table:
    table = Table(title="Score differences (right − left)")
    table.add_column("score")
    for column in ("posts", "mean Δ", "mean |Δ|", "median |Δ|", "p95 |Δ|", "max |Δ|"):
        table.add_column(column, justify="right")
    table.add_column("largest at")
    for diff in result.scores:
        stats = diff.stats()
        if not stats:
            table.add_row(diff.name, "0", *["-"] * 5, "-")
            continue
        mean, *magnitudes = (stats[k] for k in ("mean", "mean_abs", "median_abs", "p95_abs", "max_abs"))
        cells = [f"{mean:+.6f}", *(f"{v:.6f}" for v in magnitudes)]
        table.add_row(diff.name, str(len(diff.deltas)), *cells, diff.worst or "-")
    return table


def comparison_tables(result: Comparison) -> list[Table]:
    """Sources, agreement, flip examples (when there are flips) and score differences."""
    tables = [_sources(result), _agreement(result)]
    examples = _examples(result)
    if examples is not None:
        tables.append(examples)
    tables.append(_scores(result))
    return tables
