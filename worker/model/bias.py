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

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from worker.errors import ModelError
from worker.model.checkpoint import (
    CARD_IMAGE_ENCODER,
    CardConfig,
    load_auto_model,
    load_strict,
    model_from_config,
    read_card_config,
    read_state_dict,
    read_tensors,
)

# The loading helpers moved to .checkpoint; they stay importable from here too.
__all__ = [
    "CARD_IMAGE_ENCODER",
    "ENCODER_PREFIXES",
    "TEXT_POOLINGS",
    "BiasClassifier",
    "CardConfig",
    "load_auto_model",
    "load_strict",
    "masked",
    "model_from_config",
    "read_state_dict",
    "read_tensors",
]

ENCODER_PREFIXES = ("text_encoder.", "image_encoder.")
#: How a text's token states become one vector: the card's CLS token, or the masked
#: mean that sentence encoders such as all-MiniLM-L6-v2 were trained with.
TEXT_POOLINGS = ("cls", "mean")


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
        text_pooling: str = "cls",
    ) -> None:
        super().__init__()
        if text_pooling not in TEXT_POOLINGS:
            raise ModelError(f"text pooling {text_pooling!r} is not one of {TEXT_POOLINGS}")
        self.text_pooling = text_pooling
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
        config = read_card_config(folder)
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
        """[N, text_hidden]: the CLS token of the last hidden state, or (``text_pooling``
        "mean") the mean of its non-padding tokens."""
        out = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        states: Tensor = out.last_hidden_state
        if self.text_pooling == "cls":
            return states[:, 0, :]
        weights = attention_mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def encode_image(self, pixel_values: Tensor) -> Tensor:
        """[N, image_hidden] in fp32: the last feature map averaged over its spatial dims.

        The pixels are cast to the encoder's dtype (bf16 or fp16 under reduced precision)."""
        dtype = next(self.image_encoder.parameters()).dtype
        out = self.image_encoder(pixel_values=pixel_values.to(dtype), return_dict=True)
        pooled: Tensor = out.last_hidden_state.mean(dim=(-2, -1))
        return pooled.float()

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
