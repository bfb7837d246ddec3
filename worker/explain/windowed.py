"""Long texts are scored window by window: each category is explained on its deciding window.

A text longer than one window is scored in overlapping windows and, per category, the
highest window decides (the verdict's ``text.deciding_windows``). Explaining the whole
text would explain a score the verdict does not show, so each category is explained on
the window that decided it, and its spans are moved back to offsets of the whole text.
Categories no window decided (images) are asked with the whole text and the images.

Example::

    parts = window_requests(text, verdict.text, {"hate", "nudity"}, images)
    found = merge_windows([(offset, await stage.explain(r)) for offset, r in parts])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PIL import Image

from worker.explain.spans import Explanation
from worker.explain.stage import ExplainRequest, PostExplanations
from worker.messages import TextCoverage

__all__ = ["merge_windows", "window_requests"]


def window_requests(
    text: str,
    coverage: TextCoverage | None,
    categories: frozenset[str],
    images: tuple[tuple[int, Image.Image], ...],
) -> list[tuple[int, ExplainRequest]]:
    """(offset of the text explained, request) pairs: one per deciding window, one for the rest."""
    windows = coverage.windows if coverage is not None else []
    deciding = dict(coverage.deciding_windows) if coverage is not None and len(windows) > 1 else {}
    by_window: dict[int, set[str]] = {}
    for category in categories:
        if category in deciding:
            by_window.setdefault(deciding[category], set()).add(category)
    rest = frozenset(c for c in categories if c not in deciding)
    parts: list[tuple[int, ExplainRequest]] = []
    if rest:
        whole = text if not deciding else ""  # several windows: text categories all have theirs
        parts.append((0, ExplainRequest(whole, images, rest)))
    for index, chosen in sorted(by_window.items()):
        window = windows[index]
        parts.append((window.start, ExplainRequest(text[window.start : window.end], (), frozenset(chosen))))
    return parts


def _shifted(e: Explanation, offset: int) -> Explanation:
    spans = tuple(replace(s, start=s.start + offset, end=s.end + offset) for s in e.spans)
    return replace(e, spans=spans)


def merge_windows(parts: Sequence[tuple[int, PostExplanations]]) -> PostExplanations:
    """One post's explanations from its parts, spans in offsets of the whole text."""
    merged = PostExplanations()
    failed = [p.failed for _, p in parts if p.failed]
    for offset, part in parts:
        merged.text.update({c: _shifted(e, offset) for c, e in part.text.items()})
        merged.images.update(part.images)
    return replace(merged, failed="; ".join(failed) or None)
