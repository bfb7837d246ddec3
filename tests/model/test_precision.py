"""Encoder precision: int8 on CPU agrees with fp32, and changes the cache ids.

What depends on the CPU: under ``precision=int8`` the ResNet runs in bf16 only where the
CPU has bf16 instructions (AVX512-BF16 or AMX), and in fp32 (the fp32 cache id) elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.model.conftest import MakeSettings
from worker.errors import ModelError
from worker.model import ModerationModel
from worker.model.precision import cpu_has_native_bf16, resolve_precision


def test_int8_agrees_with_fp32_and_has_its_own_cache_ids(make_settings: MakeSettings) -> None:
    fp32 = ModerationModel.load(make_settings(precision="fp32"))
    int8 = ModerationModel.load(make_settings(precision="int8"))
    assert int8.precision == "int8" and fp32.precision == "fp32"
    texts = ["a post about the city council", "another, longer post about bike lanes downtown"]
    a, b = fp32.encode_texts(texts), int8.encode_texts(texts)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.95
    images = [Image.new("RGB", (80, 60), (200, 30, 30))]
    c, d = fp32.clip_encode_images(images), int8.clip_encode_images(images)
    assert float((c * d).sum()) > 0.95
    # Same weights, different numerics: identity equal, cache keys apart.
    assert int8.identity.weights_sha256 == fp32.identity.weights_sha256
    assert int8.encoder_ids["text"] != fp32.encoder_ids["text"]
    # The ResNet runs in bf16 (its own ids) only on a CPU with bf16 instructions.
    bf16 = cpu_has_native_bf16()
    assert int8.backends["image"] == ("torch-bf16" if bf16 else "torch-fp32")
    assert (int8.encoder_ids["image"] != fp32.encoder_ids["image"]) == bf16


def test_impossible_combinations_are_refused() -> None:
    assert resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert resolve_precision("auto", torch.device("cuda")) == "fp16"
    with pytest.raises(ModelError, match="CUDA"):
        resolve_precision("fp16", torch.device("cpu"))
    with pytest.raises(ModelError, match="CPU"):
        resolve_precision("int8", torch.device("cuda"))


@pytest.mark.parametrize("native_bf16", [True, False])
def test_int8_runs_the_resnet_in_bf16_only_where_the_cpu_has_it(
    make_settings: MakeSettings, monkeypatch: pytest.MonkeyPatch, native_bf16: bool
) -> None:
    monkeypatch.setattr("worker.model.backends.cpu_has_native_bf16", lambda: native_bf16)
    fp32 = ModerationModel.load(make_settings(precision="fp32"))
    int8 = ModerationModel.load(make_settings(precision="int8"))
    assert int8.backends["image"] == ("torch-bf16" if native_bf16 else "torch-fp32")
    if native_bf16 and not torch.cpu._is_avx512_bf16_supported():
        return  # this CPU would only emulate bf16: the choice is all there is to check
    images = [Image.new("RGB", (90, 70), (30, 160, 90)), Image.new("RGB", (64, 64), (250, 250, 10))]
    a, b = fp32.encode_images(images), int8.encode_images(images)
    assert b.dtype == np.float32
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.min() > 0.99
    # The card's end-to-end call takes fp32 pixels and keeps fp32 weights (bf16 is autocast).
    pixels = torch.rand(1, 3, 32, 32)
    assert int8.bias.encode_image(pixels).dtype == torch.float32
    # bf16 and fp32 image vectors never share a cache key.
    monkeypatch.setattr("worker.model.backends.cpu_has_native_bf16", lambda: not native_bf16)
    flipped = ModerationModel.load(make_settings(precision="int8"))
    assert flipped.encoder_ids["image"] != int8.encoder_ids["image"]
