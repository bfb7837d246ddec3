"""Which backend runs each encoder: torch (fp32, int8 dynamic, bf16 autocast) or
ONNX Runtime (fp32, int8 dynamic).

Each encoder (``text``, ``image``, ``clip_text``, ``clip_image``) has its own
setting (``text_backend``, ...). ``auto`` follows the ``precision`` setting when
it is set (``fp32``: torch fp32 everywhere; ``int8``: the earlier configuration,
torch int8 for the transformers and bf16 for the ResNet where the CPU has bf16),
and otherwise offers the backends of :data:`RECORDED`, fastest first, as measured side
by side on the project's CPUs (docs/benchmarks.md), with torch fp32 last.

Speed is recorded, agreement is proven: the worker takes the first candidate that agrees
with fp32 on this machine (:mod:`.agreement`: a fixed probe batch, cached per machine and
weights, so a restart costs nothing). Timing at start would cost seconds per encoder and,
on a busy shared machine, swing by 20% and more, so two starts could pick differently and
split the embedding cache; agreement does not swing, and depends on the CPU's instruction
sets (ONNX Runtime's int8 saturates without VNNI) and the weights, which the probe's key
holds.

Example::

    candidate_backends("clip_image", "auto", "auto", torch.device("cpu"))
    # ("ort-int8", "torch-bf16", "torch-int8", "ort-fp32", "torch-fp32") with bf16
    choose_backend("clip_image", "auto", "auto", torch.device("cpu"))  # the first: "ort-int8"
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
    "candidate_backends",
    "choose_backend",
    "computes_in_fp32",
    "onnxruntime_available",
]

Encoder = Literal["text", "image", "clip_text", "clip_image"]
Backend = Literal["torch-fp32", "torch-int8", "torch-bf16", "torch-fp16", "ort-fp32", "ort-int8"]
ENCODERS: tuple[Encoder, ...] = ("text", "image", "clip_text", "clip_image")
#: What a setting may name (torch-fp16 comes from ``precision=fp16`` on CUDA only).
BACKENDS = ("auto", "torch-fp32", "torch-int8", "torch-bf16", "ort-fp32", "ort-int8")

#: Backends per encoder, fastest first, by CPU kind (with bf16 instructions or without), from
#: the side-by-side table (batch 8, 2 threads, items/s, a CPU with AVX512-VNNI and bf16):
#: BERT-base ORT int8 48.7 (torch bf16 49.3 there, but slower on the worker's calls of 1 to 8
#: tweets: 38 ms against 24 for one, 215 against 156 for eight), torch int8 38.5, torch fp32
#: 17.1; ResNet-34 torch bf16 131.0, ORT fp32 42.0, torch fp32 31.5 (int8 backends leave its
#: convolutions fp32); CLIP text tower ORT int8 99.3, torch bf16 85.4, torch int8 74.6 (which
#: the probe refuses at full size: cosine 0.9981), torch fp32 38.4; CLIP ViT-B/16 ORT int8
#: 29.5, torch bf16 22.7, torch int8 10.1, ORT fp32 7.3, torch fp32 6.2. Without bf16
#: instructions the bf16 backend is left out (emulated, it is slower than fp32).
RECORDED: dict[bool, dict[Encoder, tuple[Backend, ...]]] = {
    True: {
        "text": ("ort-int8", "torch-bf16", "torch-int8", "torch-fp32"),
        "image": ("torch-bf16", "ort-fp32", "torch-fp32"),
        "clip_text": ("ort-int8", "torch-bf16", "torch-int8", "torch-fp32"),
        "clip_image": ("ort-int8", "torch-bf16", "torch-int8", "ort-fp32", "torch-fp32"),
    },
    False: {
        "text": ("ort-int8", "torch-int8", "torch-fp32"),
        "image": ("ort-fp32", "torch-fp32"),
        "clip_text": ("ort-int8", "torch-int8", "torch-fp32"),
        "clip_image": ("ort-int8", "torch-int8", "ort-fp32", "torch-fp32"),
    },
}


def computes_in_fp32(backend: Backend) -> bool:
    """Whether the backend computes in fp32 (the agreement probe's reference needs no proof)."""
    return backend in ("torch-fp32", "ort-fp32")


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def choose_backend(encoder: Encoder, wanted: str, precision: str, device: torch.device) -> Backend:
    """The first of :func:`candidate_backends`: what runs ``encoder`` unless the agreement
    probe refuses it."""
    return candidate_backends(encoder, wanted, precision, device)[0]


def candidate_backends(
    encoder: Encoder, wanted: str, precision: str, device: torch.device
) -> tuple[Backend, ...]:
    """The backends that may run ``encoder``, in order of preference, refusing what this
    machine cannot run. A backend the settings name (or ``precision`` fp32 / int8) is the
    only candidate; ``auto`` offers the recorded order, ending with torch fp32."""
    if device.type == "cuda":
        return (_cuda_backend(wanted, precision),)
    if wanted != "auto":
        return (_checked_cpu_backend(encoder, wanted),)
    bf16 = cpu_has_native_bf16()
    if precision == "fp32":
        return ("torch-fp32",)
    if precision == "int8":  # the configuration before per-encoder backends
        if encoder == "image":
            return ("torch-bf16",) if bf16 else ("torch-fp32",)
        return ("torch-int8",)
    if precision == "fp16":
        raise ModelError("fp16 needs CUDA (it is slower than fp32 on CPUs without AMX)")
    recorded = RECORDED[bf16][encoder]
    if not onnxruntime_available():
        recorded = tuple(b for b in recorded if not b.startswith("ort-"))
    return recorded


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
