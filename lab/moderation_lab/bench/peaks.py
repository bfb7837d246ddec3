"""This machine's matrix-multiply peaks per precision, measured in the same run as the
rates they divide: fp32, bf16 and int8 GEMM (``torch._int_mm``), plus int8 through a
dynamically quantized ``nn.Linear`` (what torch int8 encoders run).

Example::

    peaks = gemm_peaks()     # {"fp32": 1.6e11, "bf16": 7.3e11, "int8": 1.5e12, ...} in (FL)OP/s
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from worker.model.precision import cpu_has_native_bf16, quantize_linear_int8

__all__ = ["PRECISION_OF", "gemm_peaks"]

#: The precision whose peak bounds each backend's matrix multiplies.
PRECISION_OF = {
    "torch-fp32": "fp32",
    "ort-fp32": "fp32",
    "torch-bf16": "bf16",
    "torch-int8": "int8",
    "ort-int8": "int8",
    "torch-fp16": "fp16",
    "ov-fp32": "fp32",
    "ov-bf16": "bf16",
    "ov-int8": "int8",
    "ct2-fp32": "fp32",
    "ct2-int8": "int8",
}


def _rate(work: Callable[[], object], ops: float, repeats: int) -> float:
    work()  # first call: allocation and kernel selection
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return ops / statistics.median(times)


def gemm_peaks(n: int = 2048, repeats: int = 10) -> dict[str, float]:
    """(FL)OP/s of an n x n x n matrix multiply per precision (median of ``repeats``).

    bf16 is measured only where the CPU has bf16 instructions (elsewhere torch emulates
    it, and no backend here uses it). The int8 peak is the higher of ``_int_mm`` and the
    quantized Linear, so that no int8 utilisation can exceed 1."""
    ops = 2.0 * n**3
    a, b = torch.randn(n, n), torch.randn(n, n)
    with torch.inference_mode():
        peaks = {"fp32": _rate(lambda: torch.mm(a, b), ops, repeats)}
        if cpu_has_native_bf16():
            a16, b16 = a.bfloat16(), b.bfloat16()
            peaks["bf16"] = _rate(lambda: torch.mm(a16, b16), ops, repeats)
        a8 = torch.randint(-128, 127, (n, n), dtype=torch.int8)
        b8 = torch.randint(-128, 127, (n, n), dtype=torch.int8)
        int_mm: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = torch._int_mm
        peaks["int8_int_mm"] = _rate(lambda: int_mm(a8, b8), ops, repeats)
        holder = nn.Sequential(nn.Linear(n, n, bias=False))
        quantize_linear_int8(holder)
        peaks["int8_linear"] = _rate(lambda: holder(a), ops, repeats)
    peaks["int8"] = max(peaks["int8_int_mm"], peaks["int8_linear"])
    return peaks
