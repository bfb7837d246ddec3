"""The CPU's instruction sets that decide how reduced-precision kernels compute.

Read by CPUID (through torch's cpuinfo helpers), not from ``/proc/cpuinfo``: ONNX
Runtime and oneDNN choose their kernels by CPUID too, and an emulated CPU (``qemu-x86_64
-cpu Haswell``) answers CPUID as the CPU it emulates while ``/proc/cpuinfo`` still shows the
host's. The set is part of every agreement probe's cache key, of the int8 recipe's choice
and of the startup log, so an audit can tell why two hosts compute differently.

Why VNNI matters: without it, int8 matrix multiplies of unsigned activations by signed
weights (VPMADDUBSW) add pairs of products in 16 bits, which saturate; with AVX512-VNNI or
AMX the products are summed in 32 bits.

Example::

    cpu_features()                # ("avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx_tile")
    int8_sums_without_saturation()  # True
"""

from __future__ import annotations

import functools

import torch

__all__ = ["FEATURES", "cpu_features", "int8_sums_without_saturation"]

#: The instruction sets recorded, each with torch's CPUID helper.
FEATURES: dict[str, str] = {
    "avx2": "_is_avx2_supported",
    "avx512": "_is_avx512_supported",
    "avx512_vnni": "_is_vnni_supported",
    "avx512_bf16": "_is_avx512_bf16_supported",
    "amx_tile": "_is_amx_tile_supported",
    "amx_fp16": "_is_amx_fp16_supported",
}


@functools.cache
def cpu_features() -> tuple[str, ...]:
    """The recorded instruction sets this CPU has, in :data:`FEATURES` order."""
    return tuple(name for name, check in FEATURES.items() if bool(getattr(torch.cpu, check, lambda: False)()))


def int8_sums_without_saturation() -> bool:
    """Whether int8 dot products of unsigned by signed bytes keep 32-bit sums (AVX512-VNNI
    or AMX). AVX-VNNI without AVX-512 (some client CPUs) counts as without: torch's helpers
    cannot tell it, and the recipe for those CPUs is exact on every CPU, only maybe slower."""
    return bool({"avx512_vnni", "amx_tile"} & set(cpu_features()))
