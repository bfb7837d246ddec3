"""Each encoder as one module from input tensors to its feature tensor.

These are what a backend runs: torch calls them directly (under bf16 autocast, or
after int8 quantization of :attr:`EncoderGraph.parts`), ONNX Runtime runs them
exported (:mod:`.onnx_export`). They hold the loaded models, never copies.

Example::

    graph = text_graph(bias, weights_sha)
    features = graph.module(input_ids, attention_mask)     # [N, hidden]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

from worker.model.backends import Encoder
from worker.model.bias import BiasClassifier
from worker.model.precision import input_dtype

__all__ = ["EncoderGraph", "clip_image_graph", "clip_text_graph", "image_graph", "text_graph"]

_EXAMPLE_BATCH, _EXAMPLE_TOKENS = 2, 8


@dataclasses.dataclass(frozen=True)
class EncoderGraph:
    """One encoder, ready for any backend.

    ``parts`` are the (parent, attribute) pairs whose ``nn.Linear`` layers torch int8
    quantizes, so that quantizing one CLIP tower leaves the other in fp32.
    ``describe`` names everything besides the weights that shapes the exported graph.
    """

    encoder: Encoder
    module: nn.Module
    weights_sha256: str
    inputs: tuple[str, ...]
    examples: tuple[Tensor, ...]
    dynamic_axes: dict[str, dict[int, str]]
    parts: tuple[tuple[nn.Module, str], ...]
    describe: dict[str, object] = dataclasses.field(default_factory=dict)


class _Text(nn.Module):
    def __init__(self, bias: BiasClassifier) -> None:
        super().__init__()
        self.bias = bias

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        return self.bias.encode_text(input_ids, attention_mask).float()


class _Image(nn.Module):
    def __init__(self, bias: BiasClassifier) -> None:
        super().__init__()
        self.bias = bias

    def forward(self, pixel_values: Tensor) -> Tensor:
        return self.bias.encode_image(pixel_values)


class _ClipText(nn.Module):
    def __init__(self, clip_model: Any) -> None:
        super().__init__()
        self.clip = clip_model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        out = self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        return _pooled(out)


class _ClipImage(nn.Module):
    def __init__(self, clip_model: Any) -> None:
        super().__init__()
        self.clip = clip_model

    def forward(self, pixel_values: Tensor) -> Tensor:
        out = self.clip.get_image_features(pixel_values=pixel_values.to(input_dtype(self.clip)))
        return _pooled(out)


def _pooled(output: Any) -> Tensor:
    # transformers 5 returns an output object whose pooler_output is the projected embedding.
    features: Tensor = output if isinstance(output, Tensor) else output.pooler_output
    return features.float()


def _token_examples() -> tuple[Tensor, Tensor]:
    shape = (_EXAMPLE_BATCH, _EXAMPLE_TOKENS)
    return torch.ones(shape, dtype=torch.long), torch.ones(shape, dtype=torch.long)


_TOKEN_AXES = {
    "input_ids": {0: "batch", 1: "tokens"},
    "attention_mask": {0: "batch", 1: "tokens"},
    "features": {0: "batch"},
}


def text_graph(bias: BiasClassifier, weights_sha256: str) -> EncoderGraph:
    return EncoderGraph(
        "text",
        _Text(bias).eval(),
        weights_sha256,
        ("input_ids", "attention_mask"),
        _token_examples(),
        _TOKEN_AXES,
        ((bias, "text_encoder"),),
        {"pooling": bias.text_pooling},
    )


def image_graph(bias: BiasClassifier, weights_sha256: str, side: int) -> EncoderGraph:
    axes = {"pixel_values": {0: "batch", 2: "height", 3: "width"}, "features": {0: "batch"}}
    return EncoderGraph(
        "image",
        _Image(bias).eval(),
        weights_sha256,
        ("pixel_values",),
        (torch.rand(_EXAMPLE_BATCH, 3, side, side),),
        axes,
        ((bias, "image_encoder"),),
        {"feature": "spatial-mean"},
    )


def clip_text_graph(clip_model: Any, weights_sha256: str) -> EncoderGraph:
    return EncoderGraph(
        "clip_text",
        _ClipText(clip_model).eval(),
        weights_sha256,
        ("input_ids", "attention_mask"),
        _token_examples(),
        _TOKEN_AXES,
        ((clip_model, "text_model"), (clip_model, "text_projection")),
    )


def clip_image_graph(clip_model: Any, weights_sha256: str, side: int) -> EncoderGraph:
    return EncoderGraph(
        "clip_image",
        _ClipImage(clip_model).eval(),
        weights_sha256,
        ("pixel_values",),
        (torch.rand(_EXAMPLE_BATCH, 3, side, side),),
        {"pixel_values": {0: "batch"}, "features": {0: "batch"}},
        ((clip_model, "vision_model"), (clip_model, "visual_projection")),
    )
