"""The demo's table of flagged posts with the words behind each explained category."""

from __future__ import annotations

import json

from moderation_lab.demo.explained import explained_table, explanations_of
from moderation_lab.embedded.kafka_io import Record
from rich.console import Console


def verdict(post_id: str, flagged: bool, explanations: object) -> Record:
    value = {"post_id": post_id, "flagged": flagged, "explanations": explanations}
    return Record("verdicts", 0, 0, 0, None, json.dumps(value).encode())


def test_flagged_posts_show_their_highlighted_words() -> None:
    hate = {
        "method": "linear",
        "logit": 1.2,
        "passes": 1,
        "spans": [{"start": 13, "end": 19, "contribution": 0.9}],
    }
    nudity = {"method": "occlusion", "logit": None, "passes": 17, "spans": [], "images": []}
    records = [
        verdict("demo-rude-1", True, {"offensive": hate, "nudity": nudity}),
        verdict("demo-calm", False, None),
        verdict("demo-rude-1", True, {"offensive": hate}),  # a redelivery: shown once
    ]
    texts = {"demo-rude-1": "stop being a idiot1 now", "demo-calm": "hello"}
    assert list(explanations_of(json.loads(records[0].value))) == ["offensive"]  # image-only: no words
    console = Console(width=200, record=True)
    console.print(explained_table(records, "verdicts", texts))
    shown = console.export_text()
    assert "offensive (linear)" in shown and "idiot1" in shown
    assert shown.count("rude-1") == 1 and "calm" not in shown
