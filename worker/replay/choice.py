"""Which model and settings a replay scores with, apart from the live worker's.

A replay starts from the worker's settings (``MODERATION_*``), then takes a model
folder (``--model-dir``: ``text/``, ``image/``, optional ``clip/`` and ``heads/``, as
``convert-card`` and ``tiny-models`` write them) and ``--set KEY=VALUE`` overrides
(``--set bias_threshold=0.7``). Nothing of this reaches the live worker, which reads
its own environment. :func:`replay_pipeline_settings` then fixes what makes a replay
reproducible and keeps it off the live topics and out of Redis.

Example::

    settings = named_settings(Settings(), Path("models/candidate"), ["bias_threshold=0.7"])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_origin

from pydantic import ValidationError

from worker.replay.errors import ReplayError
from worker.settings import ENV_PREFIX, Settings

__all__ = ["model_dir_settings", "named_settings", "parse_overrides", "replay_pipeline_settings"]

_COMPLEX = (tuple, list, dict)


def model_dir_settings(folder: Path) -> dict[str, object]:
    """Settings naming the models in ``folder``."""
    missing = [name for name in ("text", "image") if not (folder / name).is_dir()]
    if missing:
        raise ReplayError(f"model folder {folder} has no {' or '.join(missing)}/ (expected text/, image/)")
    values: dict[str, object] = {
        "text_encoder": str(folder / "text"),
        "image_encoder": str(folder / "image"),
        "clip_model": str(folder / "clip") if (folder / "clip").is_dir() else "",
    }
    if (folder / "heads").is_dir():
        values["heads"] = folder / "heads"
    return values


def parse_overrides(pairs: Sequence[str]) -> dict[str, object]:
    """``["bias_threshold=0.7", "MODERATION_CLIP_LABELS=[\"a\",\"b\"]"]`` -> field values.

    Lists are JSON, as in the environment; an empty value unsets an optional field.
    """
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        field = name.strip().lower().removeprefix(ENV_PREFIX.lower())
        if not sep or field not in Settings.model_fields:
            raise ReplayError(f"bad --set {pair!r}: expected SETTING=VALUE with a setting of `settings`")
        values[field] = _value(field, raw)
    return values


def _value(field: str, raw: str) -> object:
    info = Settings.model_fields[field]
    if get_origin(info.annotation) in _COMPLEX or info.annotation in _COMPLEX:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ReplayError(f"--set {field}: expected a JSON list, got {raw!r}") from exc
    if raw == "" and info.default is None:
        return None
    return raw


def named_settings(base: Settings, model_dir: Path | None, overrides: Sequence[str]) -> Settings:
    """``base`` with the models of ``model_dir`` and the ``--set`` overrides applied."""
    values: dict[str, Any] = dict(base)
    if model_dir is not None:
        values.update(model_dir_settings(model_dir))
    values.update(parse_overrides(overrides))
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ReplayError(f"invalid replay settings: {problems}") from exc


#: Output "topics" the replay pipeline publishes to; the replay sink routes them.
VERDICTS, FLAGGED, DEAD_LETTERS = "replay.verdicts", "replay.flagged", "replay.dead-letters"


def replay_pipeline_settings(settings: Settings, posts_topic: str) -> Settings:
    """What a replay pipeline runs with, whatever the user set.

    - one post per model batch, taken at once: batch composition changes float bits of
      padded encoders, so only a fixed composition gives the same scores every time;
    - no Redis: no embeddings computed elsewhere, no writes to the live cache; a
      reference by id resolves only to a post earlier in the replay, without waiting,
      so the same range resolves the same references every time;
    - its own output names, which only the replay sink knows.
    """
    return settings.model_copy(
        update={
            "posts_topic": posts_topic,
            "verdicts_topic": VERDICTS,
            "flagged_topic": FLAGGED,
            "dlq_topic": DEAD_LETTERS,
            "cache_enabled": False,
            "reference_wait_ms": 0.0,
            "max_batch": 1,
            "max_wait_ms": 0.0,
        }
    )
