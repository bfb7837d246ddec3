"""Reading weights: pretrained models, tensor files, the card's config, strict loading.

This is the loading boundary: every transformers / torch / safetensors error
raised while reading weights becomes a :class:`ModelError` or
:class:`CheckpointError` here. transformers' loads are kept quiet: no progress
bars (see :func:`worker.model.compat.silence_progress_bars`) and, instead of
its multi-line "LOAD REPORT" table, one log line naming the weights a
checkpoint lacked or carried in excess.

Example::

    state = read_state_dict(Path("checkpoints/card"))   # model.safetensors or model_weights.pth
    load_strict(model, state, skip_prefixes=("text_encoder.",), source="card")
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from worker.errors import CheckpointError, ModelError

__all__ = [
    "CARD_IMAGE_ENCODER",
    "CardConfig",
    "from_pretrained",
    "load_auto_model",
    "load_strict",
    "load_tokenizer",
    "model_from_config",
    "read_card_config",
    "read_state_dict",
    "read_tensors",
]

log = logging.getLogger(__name__)

#: The card's checkpoint config names only the text encoder; its code hard-codes this one.
CARD_IMAGE_ENCODER = "microsoft/resnet-34"
_SHOWN_KEYS = 5
# transformers' verbosity is process-wide: loads that lower it are serialised.
_quiet_lock = threading.RLock()


class CardConfig(BaseModel):
    """The card checkpoint's ``config.json`` (only ``concat`` fusion is supported)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    text_encoder_id_or_path: str
    #: Not in the card's file (its code hard-codes resnet-34); accepted when present.
    image_encoder_id_or_path: str = CARD_IMAGE_ENCODER
    projection_dim: int = Field(ge=1)
    fusion_method: str
    proj_dropout: float = Field(ge=0, lt=1)
    fusion_dropout: float = Field(ge=0, lt=1)
    num_classes: int = Field(ge=1)


def read_card_config(folder: Path) -> CardConfig:
    """``folder/config.json`` of a card checkpoint, refusing fusion methods other than concat."""
    path = folder / "config.json"
    try:
        config = CardConfig.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise CheckpointError(f"cannot read checkpoint config {path}: {exc}") from exc
    if config.fusion_method != "concat":
        raise CheckpointError(f"{path}: fusion method {config.fusion_method!r} is not supported")
    return config


def from_pretrained(factory: Any, id_or_path: str) -> Any:
    """``factory.from_pretrained(id_or_path)`` with transformers' load report as one log line.

    Errors are left to the caller, which knows what was being loaded.
    """
    with _quiet_lock:
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity(logging.ERROR)
        try:
            model, info = factory.from_pretrained(id_or_path, output_loading_info=True)
        finally:
            hf_logging.set_verbosity(verbosity)
    missing, unexpected = sorted(info["missing_keys"]), sorted(info["unexpected_keys"])
    if missing:
        log.warning(
            "%s: %d weights not in the checkpoint, left randomly initialised: %s",
            id_or_path,
            len(missing),
            _first(missing),
        )
    if unexpected:
        # e.g. the classification head of a checkpoint loaded as a bare encoder.
        log.info("%s: %d checkpoint weights not used: %s", id_or_path, len(unexpected), _first(unexpected))
    return model


def load_auto_model(id_or_path: str, *, weights: bool) -> nn.Module:
    """``AutoModel`` from a Hub id or folder; with ``weights=False`` only its config is read."""
    try:
        if weights:
            return from_pretrained(AutoModel, id_or_path)  # type: ignore[no-any-return]
        return model_from_config(AutoConfig.from_pretrained(id_or_path))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot load model {id_or_path!r}: {exc}") from exc


def load_tokenizer(id_or_path: str) -> Any:
    """``AutoTokenizer`` from a Hub id or folder."""
    try:
        return AutoTokenizer.from_pretrained(id_or_path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load tokenizer {id_or_path!r}: {exc}") from exc


def model_from_config(config: Any) -> nn.Module:
    """A randomly initialised ``AutoModel`` (on the current default device, e.g. ``meta``)."""
    try:
        return AutoModel.from_config(config)  # type: ignore[no-untyped-call,no-any-return]
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot build a model from {type(config).__name__}: {exc}") from exc


def read_state_dict(folder: Path) -> dict[str, Tensor]:
    """Tensors of ``folder/model.safetensors``, else of ``folder/model_weights.pth``."""
    for name in ("model.safetensors", "model_weights.pth"):
        if (folder / name).is_file():
            return read_tensors(folder / name)
    raise CheckpointError(f"{folder} has neither model.safetensors nor model_weights.pth")


def read_tensors(path: Path) -> dict[str, Tensor]:
    """A flat name -> tensor mapping from a ``.safetensors`` or a torch ``.pth`` file.

    A torch file is read with torch's weights-only unpickler: anything but
    tensors and plain containers is refused, never executed.
    """
    try:
        if path.suffix == ".safetensors":
            loaded: object = safetensors.torch.load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds objects other than tensors; refusing to unpickle it: {exc}"
        ) from exc
    except (OSError, RuntimeError, EOFError, ValueError, safetensors.SafetensorError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc
    return _tensor_mapping(loaded, path)


def load_strict(
    model: nn.Module,
    state: Mapping[str, Tensor],
    *,
    skip_prefixes: tuple[str, ...] = (),
    source: str = "checkpoint",
) -> None:
    """Load ``state`` into ``model``; every key must match by name and shape.

    Keys under ``skip_prefixes`` may be absent (those weights came from elsewhere).
    Non-persistent buffers that older transformers versions saved (e.g. BERT's
    ``position_ids``) are ignored: they are constants, not weights.
    """
    own = model.state_dict()
    transient = {name for name, _ in model.named_buffers()} - own.keys()
    provided = {key: value for key, value in state.items() if key not in transient}
    expected = {key for key in own if not key.startswith(skip_prefixes)}
    problems = {
        "missing": sorted(expected - provided.keys()),
        "unexpected": sorted(provided.keys() - own.keys()),
        "wrong shape": sorted(
            f"{key} {tuple(value.shape)} != {tuple(own[key].shape)}"
            for key, value in provided.items()
            if key in own and value.shape != own[key].shape
        ),
    }
    if any(problems.values()):
        raise CheckpointError(f"{source} does not fit the architecture: " + _describe(problems))
    try:
        model.load_state_dict(provided, strict=False)
    except RuntimeError as exc:
        raise CheckpointError(f"cannot load {source}: {exc}") from exc


def _tensor_mapping(loaded: object, path: Path) -> dict[str, Tensor]:
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path} does not hold a state dict")
    bad = [str(k) for k, v in loaded.items() if not (isinstance(k, str) and isinstance(v, Tensor))]
    if bad:
        raise CheckpointError(f"{path} has entries that are not named tensors: {bad[:5]}")
    return dict(loaded)


def _describe(problems: Mapping[str, list[str]], shown: int = 20) -> str:
    parts = []
    for label, keys in problems.items():
        if keys:
            more = f", … {len(keys) - shown} more" if len(keys) > shown else ""
            parts.append(f"{len(keys)} {label} ({', '.join(keys[:shown])}{more})")
    return "; ".join(parts)


def _first(keys: list[str]) -> str:
    more = f", … {len(keys) - _SHOWN_KEYS} more" if len(keys) > _SHOWN_KEYS else ""
    return ", ".join(keys[:_SHOWN_KEYS]) + more
