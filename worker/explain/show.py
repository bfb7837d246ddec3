"""Where people look: a post's text with its explained spans highlighted, and heat maps over images.

:func:`highlighted` marks each span of each explained category in a ``rich`` text (the
stronger a span, the stronger its colour); :func:`overlay` draws a heat map over its
image as a translucent red grid, for a PNG an audit tool or a reviewer can open.

Example::

    console.print(highlighted(post_text, explanations))
    overlay(image, heat).save("post-0-nudity.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw
from rich.table import Table
from rich.text import Text

from worker.explain.image import cell_box
from worker.explain.spans import Explanation, HeatMap

__all__ = ["highlighted", "overlay", "span_table", "top_words"]

_STYLES = ("on dark_red", "on red3", "on red1")  # weak, middling, strongest


def highlighted(text: str, explanations: Mapping[str, Explanation]) -> Text:
    """``text`` with every explained span marked; a span in several categories: its strongest."""
    strength: dict[tuple[int, int], float] = {}
    for e in explanations.values():
        top = max((s.contribution for s in e.spans), default=0.0)
        for s in e.spans:
            share = s.contribution / top if top > 0 else 0.0
            strength[s.start, s.end] = max(share, strength.get((s.start, s.end), 0.0))
    out = Text(text)
    for (start, end), share in strength.items():
        level = min(len(_STYLES) - 1, int(share * len(_STYLES)))
        out.stylize(f"bold white {_STYLES[level]}", start, end)
    return out


def span_table(text: str, explanations: Mapping[str, Explanation]) -> Table:
    table = Table("category", "method", "span", "[start, end)", "contribution (logit)")
    for category, e in explanations.items():
        for s in e.spans:
            table.add_row(
                category, e.method, text[s.start : s.end], f"[{s.start}, {s.end})", f"{s.contribution:+.3f}"
            )
    return table


def top_words(text: str, explanations: Mapping[str, Explanation]) -> dict[str, list[str]]:
    """Per category, the words of its spans, strongest first (what the demo prints)."""
    return {category: [text[s.start : s.end] for s in e.spans] for category, e in explanations.items()}


def overlay(image: Image.Image, heat: HeatMap, opacity: int = 150) -> Image.Image:
    """``image`` with each cell tinted red in proportion to its positive contribution."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    top = max((c for c in heat.cells if c > 0), default=0.0)
    for row, values in enumerate(heat.grid()):
        for col, value in enumerate(values):
            alpha = int(opacity * value / top) if top > 0 and value > 0 else 0
            box = cell_box(base.size, heat.rows, row, col)
            draw.rectangle(
                (box[0], box[1], box[2] - 1, box[3] - 1), fill=(255, 0, 0, alpha), outline=(255, 255, 255, 60)
            )
    return Image.alpha_composite(base, layer).convert("RGB")


def heat_rows(maps: Sequence[HeatMap]) -> list[str]:
    return [
        f"image {h.image}: {h.rows}x{h.cols} grid, {h.passes} passes, strongest cell {max(h.cells):+.3f}"
        for h in maps
    ]
