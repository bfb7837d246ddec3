"""``KEY=VALUE`` overrides of the settings (``--set``, ``MODERATION_SHADOW_SETTINGS``), read
without importing anything heavy, so that a wrong one is reported at once.

Example::

    settings = validated(dict(load_settings()) | parse_overrides(["bias_threshold=0.7"]), "--set")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, get_origin

from pydantic import ValidationError

from worker.config.settings import ENV_PREFIX, Settings
from worker.errors import ConfigError, validation_problems

__all__ = ["parse_overrides", "validated"]

_COMPLEX = (tuple, list, dict)


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


def validated(values: Mapping[str, Any], source: str = "--set") -> Settings:
    """Settings from field values, or :class:`ConfigError` naming where they came from."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid settings: {validation_problems(exc)}") from exc
