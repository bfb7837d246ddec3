"""The settings that decide a post's scores and labels, and one hash over them.

A verdict names the model that scored it (weights hashes) and, in
``model.settings_sha256``, everything else that changes what it says for the same
post: which models are loaded (the added classifiers with their label maps included), how
texts are truncated and normalised, the CLIP labels and prompt, the thresholds, and the
limits that decide whether an image is used at all. Two verdicts with equal ``weights_sha256`` and
``settings_sha256`` for the same post and the same image bytes carry the same scores, up to
the numerics of the backend that ran (``model.backends``). Topics, timeouts, batching and
the cache are left out: they change when a verdict is written, not what it says.

A model given as a local folder is hashed by what is in it (configs, tokenizer and
processor files; the weights are in ``weights_sha256`` already), never by how its
path is spelled: ``.models/text``, ``./.models/text`` and the absolute path, on any
host, give the same hash.

Example::

    identity = identity_with_settings(scorer.identity, settings)
    identity.settings_sha256          # 'c0ffee...' (64 hex chars)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Final

from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings
from worker.messages import ModelIdentity
from worker.text import normalise as text_normalise

__all__ = ["SCORE_SETTINGS", "identity_with_settings", "score_settings", "settings_sha256"]

#: Bump when the meaning of a hashed setting changes without its value changing.
#: 3: the added classifiers (their sources and label maps) are hashed.
SETTINGS_HASH_VERSION: Final = 3

#: Fields of :class:`~worker.config.settings.Settings` that affect scores or labels.
SCORE_SETTINGS: Final = (
    "text_encoder",
    "image_encoder",
    "clip_model",
    "heads",
    "max_text_tokens",
    "text_window_chars",
    "text_window_overlap_chars",
    "text_bound_chars",
    "clip_labels",
    "clip_prompt_template",
    "bias_threshold",
    "contradiction_threshold",
    "clip_flag_labels",
    "clip_flag_threshold",
    "known_match_threshold",
    "known_min_quality",
    "policy",
    "classifiers",
    "max_image_pixels",
    "fetch_max_bytes",
)


#: Settings naming a model: a hub id, or a folder hashed by its contents.
MODEL_SETTINGS: Final = ("text_encoder", "image_encoder", "clip_model", "heads")

# Files of a model folder that decide its answers besides the weights (which are
# hashed by the model itself); training.json records how it was made, not what it does.
_CONTENT_SUFFIXES: Final = frozenset({".json", ".txt", ".model"})
_NOT_CONTENT: Final = frozenset({"training.json"})


def model_reference(name: str | Path | None) -> str | None:
    """A hub id as given; an existing folder as ``folder:<sha256 of its content files>``."""
    if name is None or str(name) == "":
        return None if name is None else ""
    folder = Path(name)
    if not folder.is_dir():
        return str(name)
    digest = hashlib.sha256()
    files = sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in _CONTENT_SUFFIXES and path.name not in _NOT_CONTENT
    )
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "folder:" + digest.hexdigest()


def _classifier(spec: ClassifierSpec) -> dict[str, object]:
    # A file's weights are hashed with the model; only a folder's other files count here.
    source = spec.source if not Path(spec.source).is_file() else "file"
    return {**spec.model_dump(mode="json"), "source": model_reference(source)}


def score_settings(settings: Settings) -> dict[str, object]:
    """The score-affecting settings as plain JSON values."""
    # The normaliser decides what the category heads read: a new one is a new setting.
    values: dict[str, object] = {
        "version": SETTINGS_HASH_VERSION,
        "text_normaliser": text_normalise.NORMALISER_ID,
    }
    for name in SCORE_SETTINGS:
        value = getattr(settings, name)
        if name in MODEL_SETTINGS:
            value = model_reference(value)
        elif name == "classifiers":
            value = [_classifier(spec) for spec in value]
        elif isinstance(value, tuple):
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
