"""Where verdict sets come from: a JSONL file or a whole topic, one verdict per post.

A set keeps the last verdict of each post (the live topic holds duplicates after a
restart, at-least-once), counts how many were replaced, and lists the models and
settings hashes it saw, so a comparison says what it compared.

Example::

    live = await load_verdicts("topic:verdicts", settings)
    replay = await load_verdicts("audit.jsonl", settings)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.audit.errors import CompareError
from worker.config.settings import Settings

__all__ = ["TOPIC_PREFIX", "VerdictSet", "load_verdicts", "read_jsonl", "verdict_set"]

#: ``topic:NAME`` names a topic; anything else is a JSONL file.
TOPIC_PREFIX = "topic:"


@dataclass
class VerdictSet:
    """The last verdict per post id from one source."""

    name: str
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    replaced: int = 0
    skipped: int = 0
    models: Counter[str] = field(default_factory=Counter)

    def add(self, document: dict[str, Any]) -> None:
        post_id = document["post_id"]
        if post_id in self.verdicts:
            self.replaced += 1
        self.verdicts[post_id] = document
        model = document.get("model", {})
        weights = str(model.get("weights_sha256", "?"))[:12]
        settings = str(model.get("settings_sha256") or "-")[:12]
        self.models[f"weights {weights} settings {settings}"] += 1


def _is_verdict(document: object) -> bool:
    return isinstance(document, dict) and "post_id" in document and isinstance(document.get("bias"), dict)


def _add_line(result: VerdictSet, number: int, line: bytes) -> None:
    if not line.strip():
        return
    try:
        document = json.loads(line)
    except ValueError as exc:
        raise CompareError(f"{result.name}: record {number} is not JSON: {exc}") from exc
    if _is_verdict(document):
        result.add(document)
    else:
        result.skipped += 1


def verdict_set(name: str, lines: Iterable[bytes]) -> VerdictSet:
    """Verdicts from JSON lines, later lines winning; other JSON (dead letters) is skipped."""
    result = VerdictSet(name)
    for number, line in enumerate(lines, start=1):
        _add_line(result, number, line)
    return result


def read_jsonl(path: Path) -> VerdictSet:
    try:
        with path.open("rb") as handle:
            return verdict_set(str(path), handle)
    except OSError as exc:
        raise CompareError(f"cannot read {path}: {exc}") from exc


async def _read_topic(topic: str, settings: Settings) -> VerdictSet:
    from worker.audit.replay.kafka import KafkaLog
    from worker.audit.replay.planning import plan_ranges
    from worker.audit.replay.ranges import RangeRequest

    result = VerdictSet(f"{TOPIC_PREFIX}{topic}")
    async with KafkaLog(settings, topic) as log:
        plan = await plan_ranges(log, RangeRequest())
        number = 0
        async for record in log.records(plan.ranges):
            number += 1
            _add_line(result, number, record.value)
    return result


async def load_verdicts(source: str, settings: Settings) -> VerdictSet:
    """``topic:NAME`` (the whole retained topic, in time order) or a JSONL file path."""
    if source.startswith(TOPIC_PREFIX):
        return await _read_topic(source.removeprefix(TOPIC_PREFIX), settings)
    return read_jsonl(Path(source))
