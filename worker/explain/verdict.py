"""A post's explanations as the verdict's ``explanations`` field (schema v3).

Example::

    field = verdict_explanations(found)      # {"hate": CategoryExplanation(...)} or None
"""

from __future__ import annotations

from worker.explain.stage import PostExplanations
from worker.messages import CategoryExplanation, ExplainedSpan, ImageHeatMap

__all__ = ["verdict_explanations"]


def _round(value: float) -> float:
    return round(float(value), 6)


def verdict_explanations(found: PostExplanations) -> dict[str, CategoryExplanation] | None:
    """Per explained category, its spans and image maps; ``None`` when nothing was explained."""
    out: dict[str, CategoryExplanation] = {}
    for category in sorted({*found.text, *found.images}):
        text = found.text.get(category)
        maps = found.images.get(category, ())
        spans = [
            ExplainedSpan(start=s.start, end=s.end, contribution=_round(s.contribution), text=s.text)
            for s in (text.spans if text is not None else ())
        ]
        images = [
            ImageHeatMap(image=h.image, rows=h.rows, cols=h.cols, cells=[_round(c) for c in h.cells])
            for h in maps
        ]
        out[category] = CategoryExplanation(
            method=text.method if text is not None else "occlusion",
            logit=_round(text.logit) if text is not None else None,
            spans=spans,
            images=images,
            passes=(text.passes if text is not None else 0) + sum(h.passes for h in maps),
        )
    return out or None
