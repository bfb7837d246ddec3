"""The words behind the demo's flags: each flagged post's explained spans, highlighted.

Reads the verdicts' ``explanations`` (offsets into the text as sent) and the texts the
demo produced (verdicts carry no text unless ``MODERATION_EXPLAIN_SPAN_TEXT`` is on).

Example::

    console.print(explained_table(records, settings.verdicts_topic, texts))
"""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from moderation_lab.embedded.kafka_io import Record
from worker.explain.show import highlighted
from worker.explain.spans import Explanation, Span

__all__ = ["explained_table", "explanations_of"]


def explanations_of(verdict: dict[str, Any]) -> dict[str, Explanation]:
    """The text explanations of one verdict as value objects (no image maps)."""
    found = {}
    for category, e in (verdict.get("explanations") or {}).items():
        spans = tuple(
            Span(s["start"], s["end"], s["contribution"], s.get("text")) for s in e.get("spans", [])
        )
        if spans:
            found[category] = Explanation(category, e["method"], spans, e["logit"], passes=e.get("passes", 1))
    return found


def explained_table(records: list[Record], topic: str, texts: dict[str, str]) -> Table:
    table = Table(title="Why flagged: the words behind each explained category", show_lines=False)
    table.add_column("post", no_wrap=True)
    table.add_column("category (method)", no_wrap=True)
    table.add_column("text, its spans highlighted", overflow="fold")
    table.add_column("top words", overflow="fold")
    seen: set[str] = set()
    for record in records:
        if record.topic != topic:
            continue
        v = json.loads(record.value)
        if v["post_id"] in seen or not v.get("flagged"):
            continue
        seen.add(v["post_id"])
        text = texts.get(v["post_id"], "")
        for category, e in explanations_of(v).items():
            words = ", ".join(text[s.start : s.end] for s in e.spans)
            table.add_row(
                v["post_id"][-8:], f"{category} ({e.method})", highlighted(text, {category: e}), words
            )
    return table
