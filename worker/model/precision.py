"""Numeric precision of the encoders: fp32, fp16 (CUDA) or int8 dynamic quantization (CPU).

int8 quantizes the ``nn.Linear`` layers (BERT, both CLIP towers). Dynamic
quantization leaves convolutions alone, so under int8 the ResNet runs in bf16
instead where the CPU computes bf16 natively (AVX512-BF16 or AMX): 1.9x on
ResNet-34 here (24 ms against 47 ms per image at batch 1, 142 against 307 at
batch 8), pooled-feature cosine to fp32 0.99999. Elsewhere it stays fp32, and
the image encoder's cache id says which ran.

The heads always run in fp32: they are tiny, and their inputs (cached encoder outputs)
are stored as fp32 whatever produced them.

Example::

    chosen = resolve_precision("auto", torch.device("cpu"))   # "fp32"
    quantize_linear_int8(model.text_encoder)
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import nn

from worker.errors import ModelError

__all__ = ["Precision", "cpu_has_native_bf16", "input_dtype", "quantize_linear_int8", "resolve_precision"]

Precision = Literal["fp32", "fp16", "int8"]


def resolve_precision(wanted: str, device: torch.device) -> Precision:
    """The precision to run, refusing combinations the hardware cannot do."""
    cuda = device.type == "cuda"
    if wanted == "auto":
        return "fp16" if cuda else "fp32"
    if wanted == "int8" and cuda:
        raise ModelError("int8 dynamic quantization runs on the CPU; use precision fp16 on CUDA")
    if wanted == "fp16" and not cuda:
        raise ModelError("fp16 needs CUDA (it is slower than fp32 on CPUs without AMX)")
    if wanted not in ("fp32", "fp16", "int8"):
        raise ModelError(f"unknown precision {wanted!r}")
    return wanted  # type: ignore[return-value]


def quantize_linear_int8(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` with a dynamically quantized int8 one, in place.

    Weights are int8, activations quantized per batch: about 1.8x on BERT-base on the
    project's CPUs (shared/ENVIRONMENT.md), at a small cost in agreement that
    ``make bench`` reports.
    """
    # Every forward pass of a quantized layer warns that quantized tensor types are
    # deprecated (they still work in this torch); once chosen, say it once in the docs
    # rather than once per batch in the logs.
    warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor.*deprecated", category=UserWarning)
    with warnings.catch_warnings():
        # torch.ao eager quantization is deprecated in favour of torchao, which has no
        # release for this torch; the eager API still works here and is what we test.
        warnings.simplefilter("ignore", DeprecationWarning)
        quantized: nn.Module = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            module, {nn.Linear}, dtype=torch.qint8, inplace=True
        )
    return quantized


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 dot-product instructions (AVX512-BF16 or AMX)."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def input_dtype(module: nn.Module) -> torch.dtype:
    """The floating dtype a module expects its pixel inputs in."""
    for parameter in module.parameters():
        if parameter.is_floating_point():
            return parameter.dtype
    return torch.float32
