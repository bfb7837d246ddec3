"""Which backend runs each encoder: torch (fp32, int8 dynamic, bf16 autocast) or
ONNX Runtime (fp32, int8 dynamic).

Each encoder (``text``, ``image``, ``clip_text``, ``clip_image``) has its own
setting (``text_backend``, ...). ``auto`` follows the ``precision`` setting when
it is set (``fp32``: torch fp32 everywhere; ``int8``: the earlier configuration,
torch int8 for the transformers and bf16 for the ResNet where the CPU has bf16),
and otherwise reads :data:`RECORDED`, a table of the fastest backend per encoder
measured side by side on the project's CPUs (docs/benchmarks.md). A table rather
than a probe at start: a probe costs seconds of start time per encoder, and on a
shared 2-core machine its timings swing by 20% or more, so two starts could pick
differently and split the embedding cache.

Example::

    backend = choose_backend("clip_image", "auto", "auto", torch.device("cpu"))  # "ort-int8"
"""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch

from worker.errors import ModelError
from worker.model.precision import cpu_has_native_bf16

__all__ = [
    "BACKENDS",
    "ENCODERS",
    "RECORDED",
    "Backend",
    "Encoder",
    "choose_backend",
    "onnxruntime_available",
]

Encoder = Literal["text", "image", "clip_text", "clip_image"]
Backend = Literal["torch-fp32", "torch-int8", "torch-bf16", "torch-fp16", "ort-fp32", "ort-int8"]
ENCODERS: tuple[Encoder, ...] = ("text", "image", "clip_text", "clip_image")
#: What a setting may name (torch-fp16 comes from ``precision=fp16`` on CUDA only).
BACKENDS = ("auto", "torch-fp32", "torch-int8", "torch-bf16", "ort-fp32", "ort-int8")

#: Fastest backend per encoder, by CPU kind, among those that keep agreement with torch fp32
#: (embedding cosine >= 0.999, bias score within 0.005), from the side-by-side table (batch 8,
#: 2 threads, items/s): BERT-base ORT int8 48.7 (torch bf16 49.3 there, but slower on the
#: worker's calls of 1 to 8 tweets: 38 ms against 24 for one, 215 against 156 for eight;
#: torch int8 38.5), ResNet-34 torch bf16 131.0 (ORT fp32 42.0), CLIP text tower ORT int8 99.3
#: (torch bf16 85.4; torch int8 74.6 moves its embeddings too far: cosine 0.9981), CLIP
#: ViT-B/16 ORT int8 29.5 (torch bf16 22.7). Without bf16 instructions the ResNet takes the
#: faster fp32 backend (ORT); ORT int8 needs only VNNI.
RECORDED: dict[bool, dict[Encoder, Backend]] = {
    True: {"text": "ort-int8", "image": "torch-bf16", "clip_text": "ort-int8", "clip_image": "ort-int8"},
    False: {"text": "ort-int8", "image": "ort-fp32", "clip_text": "ort-int8", "clip_image": "ort-int8"},
}
#: Where ONNX Runtime is not installed, ``auto`` falls back to the best torch backend.
_TORCH_INSTEAD: dict[Backend, Backend] = {"ort-fp32": "torch-fp32", "ort-int8": "torch-int8"}


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def choose_backend(encoder: Encoder, wanted: str, precision: str, device: torch.device) -> Backend:
    """The backend that runs ``encoder``, refusing what this machine cannot run."""
    if device.type == "cuda":
        return _cuda_backend(wanted, precision)
    if wanted != "auto":
        return _checked_cpu_backend(encoder, wanted)
    bf16 = cpu_has_native_bf16()
    if precision == "fp32":
        return "torch-fp32"
    if precision == "int8":  # the configuration before per-encoder backends
        if encoder == "image":
            return "torch-bf16" if bf16 else "torch-fp32"
        return "torch-int8"
    if precision == "fp16":
        raise ModelError("fp16 needs CUDA (it is slower than fp32 on CPUs without AMX)")
    chosen = RECORDED[bf16][encoder]
    if chosen.startswith("ort-") and not onnxruntime_available():
        return _TORCH_INSTEAD[chosen]
    return chosen


def _checked_cpu_backend(encoder: Encoder, wanted: str) -> Backend:
    if wanted not in BACKENDS:
        raise ModelError(f"unknown {encoder} backend {wanted!r} (one of {', '.join(BACKENDS)})")
    if wanted == "torch-bf16" and not cpu_has_native_bf16():
        raise ModelError(
            f"{encoder} backend torch-bf16 needs a CPU with bf16 instructions (AVX512-BF16 or AMX); "
            "this one emulates bf16, slower than fp32"
        )
    if wanted.startswith("ort-") and not onnxruntime_available():
        raise ModelError(f"{encoder} backend {wanted} needs onnxruntime (pip install onnxruntime onnx)")
    return wanted  # type: ignore[return-value]


def _cuda_backend(wanted: str, precision: str) -> Backend:
    if wanted not in ("auto", "torch-fp32"):
        raise ModelError(f"backend {wanted} runs on the CPU; on CUDA use auto or torch-fp32")
    if precision == "int8":
        raise ModelError("int8 dynamic quantization runs on the CPU; use precision fp16 on CUDA")
    if wanted == "torch-fp32" or precision == "fp32":
        return "torch-fp32"
    return "torch-fp16"
