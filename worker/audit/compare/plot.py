"""A comparison as a PNG: agreement per head, and a histogram of each score's differences.

Drawn with Pillow (a dependency already), so no plotting library is needed. Counts
are on a square-root scale, so a few large differences stay visible next to
thousands of zeros.

Example::

    write_plot(result, Path("compare.png"))
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from worker.audit.compare.diff import Comparison, HeadAgreement, ScoreDiff
from worker.audit.errors import CompareError

__all__ = ["write_plot"]

PANEL_W, PANEL_H, MARGIN = 560, 300, 50
BINS = 41
INK, GRID, BAR, GOOD, BAD = (30, 30, 30), (225, 225, 225), (70, 110, 180), (60, 150, 90), (200, 90, 60)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def _font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def _frame(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str
) -> tuple[int, int, int, int]:
    """Title and axes of one panel; returns the plotting area."""
    x0, y0, x1, y1 = box
    draw.text((x0 + 10, y0 + 8), title, fill=INK, font=_font(16))
    area = (x0 + MARGIN, y0 + 40, x1 - 20, y1 - 45)
    draw.rectangle(area, outline=INK)
    return area


def _agreement_panel(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], heads: list[HeadAgreement]
) -> None:
    ax0, ay0, ax1, ay1 = _frame(draw, box, "Agreement per head (left vs right)")
    small = _font(12)
    row = (ay1 - ay0) / max(1, len(heads))
    for i, head in enumerate(heads):
        top = ay0 + i * row + row * 0.25
        width = (ax1 - ax0 - 260) * head.rate
        draw.text((ax0 + 6, top), head.head, fill=INK, font=small)
        draw.rectangle(
            (ax0 + 120, top, ax0 + 120 + width, top + row * 0.5), fill=GOOD if head.rate == 1 else BAD
        )
        label = f"{100 * head.rate:.1f}% ({head.agree}/{head.compared})"
        draw.text((ax0 + 126 + width, top), label, fill=INK, font=small)


def _histogram(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], diff: ScoreDiff) -> None:
    area = _frame(draw, box, f"{diff.name}: right - left ({len(diff.deltas)} posts)")
    ax0, ay0, ax1, ay1 = area
    small = _font(12)
    values = np.asarray(diff.deltas, dtype=np.float64)
    span = float(np.abs(values).max()) if values.size else 0.0
    if span == 0.0:
        draw.text(
            (ax0 + 10, ay0 + 10),
            "identical on every post" if values.size else "no posts",
            fill=INK,
            font=small,
        )
        return
    middle = (ax0 + ax1) / 2
    draw.line((middle, ay0, middle, ay1), fill=GRID)  # zero, under the bars
    counts, _ = np.histogram(values, bins=BINS, range=(-span, span))
    top = math.sqrt(float(counts.max()))
    width = (ax1 - ax0) / BINS
    for i, count in enumerate(counts):
        if count:
            height = (ay1 - ay0 - 4) * math.sqrt(float(count)) / top
            draw.rectangle((ax0 + i * width + 1, ay1 - height, ax0 + (i + 1) * width - 1, ay1), fill=BAR)
    for x, value in ((ax0, -span), (middle, 0.0), (ax1, span)):
        draw.text((x - 20, ay1 + 6), f"{value:+.2g}" if value else "0", fill=INK, font=small)
    draw.text((ax0 - 45, ay0), str(int(counts.max())), fill=INK, font=small)
    draw.text((ax0 - 45, ay0 + 16), "posts", fill=INK, font=small)
    stats = diff.stats()
    note = (
        f"|difference|: mean {stats['mean_abs']:.2g}, p95 {stats['p95_abs']:.2g}, max {stats['max_abs']:.2g}"
    )
    draw.text((ax0, ay1 + 24), note, fill=INK, font=small)


def write_plot(result: Comparison, path: Path) -> Path:
    """Draw the comparison into ``path`` (PNG), two panels per row."""
    panels = 1 + len(result.scores)
    rows = math.ceil(panels / 2)
    image = Image.new("RGB", (2 * PANEL_W, rows * PANEL_H), "white")
    draw = ImageDraw.Draw(image)
    boxes = [
        ((i % 2) * PANEL_W, (i // 2) * PANEL_H, (i % 2 + 1) * PANEL_W, (i // 2 + 1) * PANEL_H)
        for i in range(panels)
    ]
    _agreement_panel(draw, boxes[0], result.heads)
    for box, diff in zip(boxes[1:], result.scores, strict=True):
        _histogram(draw, box, diff)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    except OSError as exc:
        raise CompareError(f"cannot write the plot to {path}: {exc}") from exc
    return path
