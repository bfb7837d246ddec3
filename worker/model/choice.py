"""A second model and its settings beside the live ones: a shadow model, or a replay's.

It starts from the worker's settings (``MODERATION_*``), then takes a model folder
(``text/``, ``image/``, optional ``clip/`` and ``heads/``, as ``convert-card`` writes
them) and ``KEY=VALUE`` overrides (``bias_threshold=0.7``). Errors name where the
overrides came from (``--set`` or ``MODERATION_SHADOW_SETTINGS``).

Example::

    settings = named_settings(Settings(), Path("models/candidate"), ["bias_threshold=0.7"])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.config.overrides import parse_overrides, validated
from worker.config.settings import Settings
from worker.errors import ConfigError

__all__ = ["model_dir_settings", "named_settings", "parse_overrides"]


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


def named_settings(
    base: Settings, model_dir: Path | None, overrides: Sequence[str], source: str = "--set"
) -> Settings:
    """``base`` with the models of ``model_dir`` and the overrides applied."""
    values: dict[str, Any] = dict(base)
    if model_dir is not None:
        values.update(model_dir_settings(model_dir))
    values.update(parse_overrides(overrides, source))
    return validated(values, source)
