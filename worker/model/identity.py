"""Content hashes of model weights, and short ids for cache keys.

A weights hash covers every entry of a module's ``state_dict`` (name, dtype,
shape and raw bytes, in sorted name order), so it does not depend on how the
weights were loaded or on the device they run on. An *encoder id* also covers
everything that changes what the encoder outputs for the same input
(tokenizer, truncation, image size, normalisation, which feature is taken):
a change to any of them gives a new id, and a cache keyed by the id can never
serve an embedding computed under old settings.

Example::

    sha = weights_sha256(model.text_encoder)
    key_part = short_id(sha, {"max_tokens": 512, "feature": "cls"})
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch import nn

from worker.errors import ModelError

__all__ = [
    "FEATURE_VERSION",
    "SHORT_ID_CHARS",
    "combine_hashes",
    "model_name",
    "short_id",
    "state_sha256",
    "text_sha256",
    "weights_sha256",
]

#: Bump when the way features are computed from encoder outputs changes.
FEATURE_VERSION = 1
SHORT_ID_CHARS = 16


def weights_sha256(module: nn.Module) -> str:
    """sha256 (hex) over a module's state dict: names, dtypes, shapes and bytes."""
    return state_sha256(module.state_dict())


def state_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 (hex) over named tensors, in sorted name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state.items()):
        if tensor.is_meta:
            raise ModelError(f"cannot hash {name!r}: the tensor has no data (meta device)")
        header = f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n"
        digest.update(header.encode())
        # Viewing the flat tensor as bytes hashes the exact bits without a copy
        # through numpy (which has no bfloat16).
        raw = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
        digest.update(raw.numpy().data)
    return digest.hexdigest()


#: Hex digits of the weights hash a model's name carries (``components`` holds it whole).
NAME_HASH_CHARS = 12


def model_name(id_or_path: str | Path, weights_sha: str) -> str:
    """How a verdict names a model: ``NAME@sha256:HEX12``, never a path of the host.

    NAME is a hub id as given; for a local folder, the hub id its ``config.json`` was saved
    from (``_name_or_path``) when that is one, else the folder's own name. The hash tells
    two models of the same name apart.
    """
    given = str(id_or_path)
    folder = Path(given).expanduser()
    name = given
    if folder.is_dir():
        name = _saved_from(folder) or folder.resolve().name
    return f"{name}@sha256:{weights_sha[:NAME_HASH_CHARS]}"


def _saved_from(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    source = config.get("_name_or_path") if isinstance(config, dict) else None
    if not isinstance(source, str) or not source or Path(source).is_absolute() or source.startswith("."):
        return None
    if Path(source).expanduser().exists() or source.count("/") > 1:
        return None  # a relative path, not a hub id
    return source


def combine_hashes(parts: Mapping[str, str]) -> str:
    """One sha256 over named hashes, independent of the mapping's order."""
    return _sha256_json(dict(parts))


def short_id(weights_sha: str, preprocessing: Mapping[str, object]) -> str:
    """Short id (16 hex chars) of an encoder's weights plus its preprocessing.

    ``preprocessing`` must be JSON-serialisable; keys are sorted before hashing.
    """
    payload = {
        "weights": weights_sha,
        "feature_version": FEATURE_VERSION,
        "preprocessing": dict(preprocessing),
    }
    return _sha256_json(payload)[:SHORT_ID_CHARS]


def text_sha256(parts: Iterable[str]) -> str:
    """sha256 over strings, e.g. a tokenizer's serialised definition."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _sha256_json(value: object) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_reject)
    except TypeError as exc:
        raise ModelError(f"identity input is not JSON-serialisable: {exc}") from exc
    return hashlib.sha256(text.encode()).hexdigest()


def _reject(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
