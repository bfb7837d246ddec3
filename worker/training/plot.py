"""The confusion matrix as a PNG, drawn with Pillow (no matplotlib needed).

Each cell shows its count and its share of the true class (row); the shade
follows that share, so a rare class that is never found shows as a pale diagonal
cell however few examples it has.

Example::

    save_confusion_png(report, Path("confusion.png"), title="val_df.csv")
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from worker.errors import ModerationError
from worker.training.metrics import Report

__all__ = ["save_confusion_png"]

_CELL = 120
_MARGIN_LEFT = 170
_MARGIN_TOP = 90
_MARGIN = 30
_LOW = (247, 251, 255)
_HIGH = (8, 69, 148)


def save_confusion_png(report: Report, path: Path, title: str = "") -> Path:
    """Draw ``report``'s confusion matrix into ``path``; returns ``path``."""
    k = len(report.labels)
    size = (_MARGIN_LEFT + k * _CELL + _MARGIN, _MARGIN_TOP + k * _CELL + _MARGIN + 40)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=15)
    small = ImageFont.load_default(size=13)
    heading = f"{title}  macro-F1 {report.macro_f1:.3f}  accuracy {report.accuracy:.3f}".strip()
    draw.text((_MARGIN, 12), heading, fill="black", font=font)
    draw.text((_MARGIN_LEFT, _MARGIN_TOP - 48), "predicted", fill="black", font=small)
    for j, label in enumerate(report.labels):
        x = _MARGIN_LEFT + j * _CELL + _CELL // 2
        draw.text((x, _MARGIN_TOP - 12), label, fill="black", font=small, anchor="ms")
    for i, (label, row) in enumerate(zip(report.labels, report.confusion, strict=True)):
        y = _MARGIN_TOP + i * _CELL
        draw.text((_MARGIN_LEFT - 10, y + _CELL // 2), label, fill="black", font=small, anchor="rm")
        total = sum(row)
        for j, count in enumerate(row):
            _cell(draw, (_MARGIN_LEFT + j * _CELL, y), count, count / total if total else 0.0, font)
    bottom = _MARGIN_TOP + k * _CELL + 24
    draw.text((_MARGIN, bottom), "rows: true class; shade and % of the row", fill="gray", font=small)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    except OSError as exc:
        raise ModerationError(f"cannot write {path}: {exc}") from exc
    return path


def _cell(
    draw: ImageDraw.ImageDraw,
    corner: tuple[int, int],
    count: int,
    share: float,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    x, y = corner
    colour = tuple(round(lo + (hi - lo) * share) for lo, hi in zip(_LOW, _HIGH, strict=True))
    draw.rectangle((x, y, x + _CELL - 2, y + _CELL - 2), fill=colour, outline=(200, 200, 200))
    ink = "white" if share > 0.5 else "black"
    centre = (x + _CELL // 2, y + _CELL // 2)
    draw.text((centre[0], centre[1] - 10), str(count), fill=ink, font=font, anchor="mm")
    draw.text((centre[0], centre[1] + 12), f"{share:.0%}", fill=ink, font=font, anchor="mm")
