"""The multimodal bias classifier of the model card, split into stages.

The module tree and its names follow the published card exactly, so its
checkpoint loads strictly::

    text_encoder       BERT-family AutoModel (with pooler)
    text_projection    Sequential(Linear(text_hidden, P), Dropout)
    image_encoder      ResNet-family AutoModel (.classifier = Identity)
    image_projection   Sequential(Linear(image_hidden, P), Dropout)
    fusion_layer       Sequential(Dropout, Linear(2P, P), GELU, Dropout)
    classifier         Linear(P, num_classes)

The forward pass is split so each encoder runs once per distinct input (and its
output can be cached) while the cheap heads run per (text, image) pair.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import Tensor, nn
from transformers import AutoConfig, AutoModel

from worker.errors import CheckpointError, ModelError

__all__ = [
    "CARD_IMAGE_ENCODER",
    "ENCODER_PREFIXES",
    "BiasClassifier",
    "CardConfig",
    "load_auto_model",
    "load_strict",
    "masked",
    "model_from_config",
    "read_state_dict",
    "read_tensors",
]

#: The card's checkpoint config names only the text encoder; its code hard-codes this one.
CARD_IMAGE_ENCODER = "microsoft/resnet-34"
ENCODER_PREFIXES = ("text_encoder.", "image_encoder.")


def masked(features: Tensor, present: Tensor | None) -> Tensor:
    """Zero the rows of ``features`` whose modality is absent (``present`` is bool [N])."""
    if present is None:
        return features
    return features * present.to(features.dtype).unsqueeze(-1)


class BiasClassifier(nn.Module):
    """Text + image bias classifier (one logit per pair with ``num_classes=1``).

    Example::

        model = BiasClassifier.from_pretrained("bert-base-uncased", "microsoft/resnet-34")
        text = model.project_text(model.encode_text(input_ids, attention_mask))
        image = model.project_image(model.encode_image(pixel_values))
        prob = torch.sigmoid(model.fuse_and_classify(text, image))

    A missing modality is *masked*: its projected features are zeroed before
    fusion. Zero is the only input that adds no evidence through the fusion's
    first linear layer (it then contributes only the bias), whereas encoding an
    empty string or a blank image would inject arbitrary features. The card's
    model was trained on complete pairs, so single-modality scores are an
    approximation; heads trained with modality dropout make them sound.
    """

    def __init__(
        self,
        text_encoder: nn.Module,
        image_encoder: nn.Module,
        projection_dim: int = 768,
        *,
        fusion_method: str = "concat",
        proj_dropout: float = 0.1,
        fusion_dropout: float = 0.1,
        num_classes: int = 1,
    ) -> None:
        super().__init__()
        if fusion_method != "concat":
            # The card's other methods multiply the projections elementwise, which its
            # own author marks as not working; nothing published uses them.
            raise ModelError(f"fusion method {fusion_method!r} is not supported (only 'concat')")
        self.fusion_method = fusion_method
        self.projection_dim = projection_dim
        self.num_classes = num_classes
        text_config: Any = text_encoder.config
        image_config: Any = image_encoder.config
        self.text_hidden = int(text_config.hidden_size)
        self.image_hidden = int(image_config.hidden_sizes[-1])

        self.text_encoder = text_encoder
        self.text_projection = nn.Sequential(
            nn.Linear(self.text_hidden, projection_dim), nn.Dropout(proj_dropout)
        )
        self.image_encoder = image_encoder
        # Mirrors the card; a bare ResNetModel has no classifier, so this adds no weights.
        self.image_encoder.classifier = nn.Identity()
        self.image_projection = nn.Sequential(
            nn.Linear(self.image_hidden, projection_dim), nn.Dropout(proj_dropout)
        )
        self.fusion_layer = nn.Sequential(
            nn.Dropout(fusion_dropout),
            nn.Linear(2 * projection_dim, projection_dim),
            nn.GELU(),
            nn.Dropout(fusion_dropout),
        )
        self.classifier = nn.Linear(projection_dim, num_classes)

    # --- construction -------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, text_id_or_path: str, image_id_or_path: str, projection_dim: int = 768, **heads: Any
    ) -> BiasClassifier:
        """Pretrained encoders (AutoModel) with freshly initialised heads."""
        return cls(
            load_auto_model(text_id_or_path, weights=True),
            load_auto_model(image_id_or_path, weights=True),
            projection_dim,
            **heads,
        )

    @classmethod
    def from_configs(
        cls, text_config: Any, image_config: Any, projection_dim: int = 768, **heads: Any
    ) -> BiasClassifier:
        """Randomly initialised encoders built from transformers configs (works on ``meta``)."""
        return cls(
            model_from_config(text_config),
            model_from_config(image_config),
            projection_dim,
            **heads,
        )

    @classmethod
    def from_checkpoint(
        cls,
        folder: Path,
        *,
        text_id_or_path: str | None = None,
        image_id_or_path: str | None = None,
    ) -> BiasClassifier:
        """Load the card's published format: ``config.json`` + ``model_weights.pth``
        (or ``model.safetensors``).

        The encoders' architecture comes from ``text_id_or_path`` /
        ``image_id_or_path`` (defaults: the checkpoint config's text encoder and
        ``microsoft/resnet-34``). An encoder whose weights the checkpoint holds is
        built from its config alone, so weights are not read twice.
        """
        config = _read_card_config(folder)
        state = read_state_dict(folder)
        sources = {
            "text_encoder.": text_id_or_path or config.text_encoder_id_or_path,
            "image_encoder.": image_id_or_path or config.image_encoder_id_or_path,
        }
        in_file = {prefix: any(k.startswith(prefix) for k in state) for prefix in sources}
        text, image = (load_auto_model(src, weights=not in_file[p]) for p, src in sources.items())
        model = cls(
            text,
            image,
            config.projection_dim,
            fusion_method=config.fusion_method,
            proj_dropout=config.proj_dropout,
            fusion_dropout=config.fusion_dropout,
            num_classes=config.num_classes,
        )
        skip = tuple(prefix for prefix, present in in_file.items() if not present)
        load_strict(model, state, skip_prefixes=skip, source=str(folder))
        return model

    # --- stages -------------------------------------------------------------------
    def encode_text(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """[N, text_hidden]: the CLS token of the last hidden state."""
        out = self.text_encoder(
            input_ids=input_ids, attention_mask=attention_mask, return_dict=True
        )
        cls_token: Tensor = out.last_hidden_state[:, 0, :]
        return cls_token

    def encode_image(self, pixel_values: Tensor) -> Tensor:
        """[N, image_hidden]: the last feature map averaged over its spatial dims."""
        out = self.image_encoder(pixel_values=pixel_values, return_dict=True)
        pooled: Tensor = out.last_hidden_state.mean(dim=(-2, -1))
        return pooled

    def project_text(self, features: Tensor) -> Tensor:
        projected: Tensor = self.text_projection(features)
        return projected

    def project_image(self, features: Tensor) -> Tensor:
        projected: Tensor = self.image_projection(features)
        return projected

    def fuse_and_classify(
        self,
        text_proj: Tensor,
        image_proj: Tensor,
        text_present: Tensor | None = None,
        image_present: Tensor | None = None,
    ) -> Tensor:
        """Logits [N, num_classes]; rows whose ``*_present`` is False are masked."""
        fused = torch.cat([masked(text_proj, text_present), masked(image_proj, image_present)], -1)
        logits: Tensor = self.classifier(self.fusion_layer(fused))
        return logits

    def forward(self, pixel_values: Tensor, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The card's end-to-end call: logits for aligned (text, image) pairs."""
        text = self.project_text(self.encode_text(input_ids, attention_mask))
        image = self.project_image(self.encode_image(pixel_values))
        return self.fuse_and_classify(text, image)

    def head_state_dict(self) -> dict[str, Tensor]:
        """The weights outside the two encoders (projections, fusion, classifier)."""
        return {
            name: tensor
            for name, tensor in self.state_dict().items()
            if not name.startswith(ENCODER_PREFIXES)
        }


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


def _read_card_config(folder: Path) -> CardConfig:
    path = folder / "config.json"
    try:
        config = CardConfig.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise CheckpointError(f"cannot read checkpoint config {path}: {exc}") from exc
    if config.fusion_method != "concat":
        raise CheckpointError(f"{path}: fusion method {config.fusion_method!r} is not supported")
    return config


# --- loading boundary: every transformers / torch loading error becomes ours --------
def load_auto_model(id_or_path: str, *, weights: bool) -> nn.Module:
    """``AutoModel`` from a Hub id or folder; with ``weights=False`` only its config is read."""
    try:
        if weights:
            return AutoModel.from_pretrained(id_or_path)  # type: ignore[no-any-return]
        return model_from_config(AutoConfig.from_pretrained(id_or_path))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot load model {id_or_path!r}: {exc}") from exc


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
