"""Loading what ``run`` scores with, the live model and an optional shadow, each checked
against the policy exactly as ``run`` does (``settings --check --load`` calls it too).

Example::

    loaded = load_models(settings)
    loaded.scorer.category_names, loaded.shadow
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker.config.settings import Settings
from worker.errors import ModelError, ModerationError

if TYPE_CHECKING:
    from worker.model import ModerationModel

__all__ = ["Loaded", "load_models"]


@dataclass(frozen=True)
class Loaded:
    scorer: ModerationModel
    shadow: tuple[Settings, ModerationModel] | None


def load_models(settings: Settings) -> Loaded:
    """The live model, its policy checked, and the shadow model when one is configured.
    Raises the worker's own errors; a shadow's say where they came from."""
    from worker.model import ModerationModel
    from worker.shadow import shadow_settings
    from worker.verdicts.policy import check_policy

    scorer = ModerationModel.load(settings)
    check_policy(settings, scorer.category_names)
    try:
        candidate = shadow_settings(settings)
        shadow = (candidate, ModerationModel.load(candidate)) if candidate is not None else None
    except ModerationError as exc:
        raise ModelError(f"shadow model: {exc}") from exc
    return Loaded(scorer, shadow)
