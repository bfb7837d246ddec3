"""Tiny models built once per test session, and a model loaded from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from moderation_lab.tiny_models import build_tiny_models
from PIL import Image

from worker.config.settings import Settings
from worker.model import ModerationModel

MakeSettings = Callable[..., Settings]


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def make_settings(tiny_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> MakeSettings:
    """Settings naming the tiny models, with overrides. Every model field is given
    explicitly so MODERATION_* variables in the environment cannot leak in."""
    onnx_dir = tmp_path_factory.mktemp("onnx")

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "text_encoder": str(tiny_paths["text"]),
            "image_encoder": str(tiny_paths["image"]),
            "clip_model": str(tiny_paths["clip"]),
            "heads": None,
            "device": "cpu",
            "torch_threads": 0,
            "max_text_tokens": 512,
            # torch fp32 everywhere unless a test picks backends: dynamic int8 quantizes
            # activations per batch, so its embeddings move slightly with their batch-mates.
            "precision": "fp32",
            "onnx_cache_dir": onnx_dir,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture(scope="session")
def tiny_model(make_settings: MakeSettings) -> ModerationModel:
    """Shared and read-only: tests that change weights load their own."""
    return ModerationModel.load(make_settings())


@pytest.fixture(scope="session")
def sample_images() -> list[Image.Image]:
    """Three seeded images of different sizes; the last is greyscale."""
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8)),
    ]
