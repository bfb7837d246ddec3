"""A comparison as a PNG: agreement per head, and a histogram of each score's differences.

Drawn with matplotlib (the ``plots`` extra), imported only when a plot is asked
for, so the worker itself never loads it. Counts are on a square-root scale, so
a few large differences stay visible next to thousands of zeros.

Example::

    write_plot(result, Path("compare.png"))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from worker.audit.compare.diff import Comparison, HeadAgreement, ScoreDiff
from worker.audit.errors import CompareError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["comparison_figure", "write_plot"]

#: Inches per panel at :data:`DPI`: two panels per row, 1120 pixels wide in all.
PANEL_W, PANEL_H, DPI = 5.6, 3.0, 100
BINS = 41
GOOD, BAD, BAR = "#3c965a", "#c85a3c", "#466eb4"


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise CompareError(
            "the comparison plot needs matplotlib: pip install 'moderation-worker[plots]'"
        ) from exc
    return Figure


def comparison_figure(result: Comparison) -> Figure:
    """The comparison drawn on a matplotlib figure, two panels per row."""
    panels = 1 + len(result.scores)
    rows = math.ceil(panels / 2)
    figure = _figure_class()(figsize=(2 * PANEL_W, rows * PANEL_H), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, 2, squeeze=False).flatten()
    _agreement(axes[0], result.heads)
    for ax, diff in zip(axes[1:], result.scores, strict=False):
        _histogram(ax, diff)
    for ax in axes[panels:]:
        ax.set_axis_off()
    return figure


def _agreement(ax: Axes, heads: list[HeadAgreement]) -> None:
    ax.set_title("Agreement per head (left vs right)", loc="left")
    names = [head.head for head in heads]
    rates = [head.rate for head in heads]
    bars = ax.barh(names, rates, color=[GOOD if rate == 1 else BAD for rate in rates])
    ax.bar_label(bars, [f"{100 * h.rate:.1f}% ({h.agree}/{h.compared})" for h in heads], padding=3)
    ax.set_xlim(0, 1.45)  # room for the labels right of a full bar
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
    ax.invert_yaxis()  # first head on top, as in the printed table


def _histogram(ax: Axes, diff: ScoreDiff) -> None:
    ax.set_title(f"{diff.name}: right - left ({len(diff.deltas)} posts)", loc="left")
    values = np.asarray(diff.deltas, dtype=np.float64)
    span = float(np.abs(values).max()) if values.size else 0.0
    if span == 0.0:
        message = "identical on every post" if values.size else "no posts"
        ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.hist(values, bins=BINS, range=(-span, span), color=BAR)
    ax.axvline(0.0, color="#bbbbbb", linewidth=0.8, zorder=0)
    from matplotlib.ticker import MaxNLocator  # matplotlib is there: the figure exists

    ax.set_yscale("function", functions=(np.sqrt, np.square))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("posts (square-root scale)")
    stats = diff.stats()
    ax.set_xlabel(
        f"|difference|: mean {stats['mean_abs']:.2g}, p95 {stats['p95_abs']:.2g}, max {stats['max_abs']:.2g}"
    )


def write_plot(result: Comparison, path: Path) -> Path:
    """Draw the comparison into ``path`` (PNG) and return ``path``."""
    figure = comparison_figure(result)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    except OSError as exc:
        raise CompareError(f"cannot write the plot to {path}: {exc}") from exc
    return path
