"""The settings that decide a post's scores and labels, and one hash over them.

A verdict names the model that scored it (weights hashes) and, in
``model.settings_sha256``, everything else that changes what it says for the same
post: which models are loaded, how texts are truncated, the CLIP labels and prompt,
the thresholds, and the limits that decide whether an image is used at all. Two
verdicts with equal ``weights_sha256`` and ``settings_sha256`` for the same post and
the same image bytes carry the same scores. Topics, timeouts, batching and the cache
are left out: they change when a verdict is written, not what it says.

Example::

    identity = identity_with_settings(scorer.identity, settings)
    identity.settings_sha256          # 'c0ffee...' (64 hex chars)
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

from worker.config.settings import Settings
from worker.messages import ModelIdentity

__all__ = ["SCORE_SETTINGS", "identity_with_settings", "score_settings", "settings_sha256"]

#: Bump when the meaning of a hashed setting changes without its value changing.
SETTINGS_HASH_VERSION: Final = 1

#: Fields of :class:`~worker.config.settings.Settings` that affect scores or labels.
SCORE_SETTINGS: Final = (
    "text_encoder",
    "image_encoder",
    "clip_model",
    "heads",
    "max_text_tokens",
    "clip_labels",
    "clip_prompt_template",
    "bias_threshold",
    "contradiction_threshold",
    "clip_flag_labels",
    "clip_flag_threshold",
    "policy",
    "max_image_pixels",
    "fetch_max_bytes",
)


def score_settings(settings: Settings) -> dict[str, object]:
    """The score-affecting settings as plain JSON values."""
    values: dict[str, object] = {"version": SETTINGS_HASH_VERSION}
    for name in SCORE_SETTINGS:
        value = getattr(settings, name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = {key: rule.model_dump() for key, rule in value.items()}
        elif value is not None and not isinstance(value, str | int | float | bool):
            value = str(value)  # paths
        values[name] = value
    return values


def settings_sha256(settings: Settings) -> str:
    """sha256 (hex) of :func:`score_settings`, independent of field order."""
    text = json.dumps(score_settings(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def identity_with_settings(identity: ModelIdentity, settings: Settings) -> ModelIdentity:
    """``identity`` carrying the hash of ``settings``."""
    return identity.model_copy(update={"settings_sha256": settings_sha256(settings)})
