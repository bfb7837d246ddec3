"""The confusion matrix as a PNG, drawn with matplotlib (the ``plots`` extra).

Each cell shows its count and its share of the true class (row); the shade
follows that share, so a rare class that is never found shows as a pale diagonal
cell however few examples it has. matplotlib is imported only when a picture is
drawn.

Example::

    save_confusion_png(report, Path("confusion.png"), title="val_df.csv")
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from worker.errors import ModerationError
from worker.training.metrics import Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["confusion_figure", "matplotlib_home", "save_confusion_png"]

#: Inches at :data:`DPI`: the PNG is 640 x 560 pixels whatever the classes.
SIZE, DPI = (6.4, 5.6), 100


def matplotlib_home() -> None:
    """Keep matplotlib's config and font cache out of the home folder: unless
    ``MPLCONFIGDIR`` says where, it gets a temporary folder removed at exit (training
    writes nothing outside the folders it is given; docs/security.md). Call before
    importing matplotlib."""
    if "MPLCONFIGDIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="moderation-matplotlib-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["MPLCONFIGDIR"] = folder


def confusion_figure(report: Report, title: str = "") -> Figure:
    """``report``'s confusion matrix on a matplotlib figure."""
    matplotlib_home()
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ModerationError(
            "the confusion-matrix picture needs matplotlib: pip install 'moderation-worker[plots]'"
        ) from exc
    counts = np.asarray(report.confusion, dtype=np.int64)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    ax = figure.subplots()
    ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ticks = range(len(report.labels))
    ax.set_xticks(ticks, report.labels)
    ax.set_yticks(ticks, report.labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true class (shade and % of the row)")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    for (i, j), count in np.ndenumerate(counts):
        ink = "white" if shares[i, j] > 0.5 else "black"
        ax.text(j, i, f"{count}\n{shares[i, j]:.0%}", ha="center", va="center", color=ink)
    heading = f"{title}  macro-F1 {report.macro_f1:.3f}  accuracy {report.accuracy:.3f}".strip()
    figure.suptitle(heading)
    return figure


def save_confusion_png(report: Report, path: Path, title: str = "") -> Path:
    """Draw ``report``'s confusion matrix into ``path``; returns ``path``."""
    figure = confusion_figure(report, title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, format="png")
    except OSError as exc:
        raise ModerationError(f"cannot write {path}: {exc}") from exc
    return path
