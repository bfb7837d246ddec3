"""A second model and its settings beside the live ones: a shadow model, or a replay's.

It starts from the worker's settings (``MODERATION_*``), then takes a model folder
(``text/``, ``image/``, optional ``clip/`` and ``heads/``, as ``convert-card`` writes
them) and ``KEY=VALUE`` overrides (``bias_threshold=0.7``). Errors name where the
overrides came from (``--set`` or ``MODERATION_SHADOW_SETTINGS``).

Example::

    settings = named_settings(Settings(), Path("models/candidate"), ["bias_threshold=0.7"])
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_origin

from pydantic import ValidationError

from worker.config.settings import ENV_PREFIX, Settings
from worker.errors import ConfigError, validation_problems

__all__ = ["model_dir_settings", "named_settings", "parse_overrides"]

_COMPLEX = (tuple, list, dict)


def model_dir_settings(folder: Path) -> dict[str, object]:
    """Settings naming the models in ``folder``."""
    missing = [name for name in ("text", "image") if not (folder / name).is_dir()]
    if missing:
        raise ConfigError(f"model folder {folder} has no {' or '.join(missing)}/ (expected text/, image/)")
    values: dict[str, object] = {
        "text_encoder": str(folder / "text"),
        "image_encoder": str(folder / "image"),
        "clip_model": str(folder / "clip") if (folder / "clip").is_dir() else "",
    }
    if (folder / "heads").is_dir():
        values["heads"] = folder / "heads"
    return values


def parse_overrides(pairs: Sequence[str], source: str = "--set") -> dict[str, object]:
    """``["bias_threshold=0.7", "MODERATION_CLIP_LABELS=[\"a\",\"b\"]"]`` -> field values.

    Lists are JSON, as in the environment; an empty value unsets an optional field.
    """
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        field = name.strip().lower().removeprefix(ENV_PREFIX.lower())
        if not sep or field not in Settings.model_fields:
            raise ConfigError(
                f"{source}: bad override {pair!r}: expected SETTING=VALUE with a setting of `settings`"
            )
        values[field] = _value(field, raw, source)
    return values


def _value(field: str, raw: str, source: str) -> object:
    info = Settings.model_fields[field]
    if get_origin(info.annotation) in _COMPLEX or info.annotation in _COMPLEX:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"{source} {field}: expected a JSON list, got {raw!r}") from exc
    if raw == "" and info.default is None:
        return None
    return raw


def named_settings(
    base: Settings, model_dir: Path | None, overrides: Sequence[str], source: str = "--set"
) -> Settings:
    """``base`` with the models of ``model_dir`` and the overrides applied."""
    values: dict[str, Any] = dict(base)
    if model_dir is not None:
        values.update(model_dir_settings(model_dir))
    values.update(parse_overrides(overrides, source))
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid settings: {validation_problems(exc)}") from exc
