"""Tiny encoders and a small labelled CSV for the fine-tuning tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from moderation_lab.tiny_models import build_tiny_models


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-ft"))["text"]


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """BABE's columns; biased rows use loaded words (learnable even by a tiny model)."""
    path = tmp_path_factory.mktemp("ft-data") / "babe.csv"
    loaded = ["outrageous", "shameful", "disastrous", "radical", "bizarre"]
    plain = ["reported", "said", "announced", "stated", "noted"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "biased_words"])
        for n in range(90):
            biased = n % 3 == 0
            word = (loaded if biased else plain)[n % 5]
            writer.writerow(
                [f"the senator {word} the plan number {n}", int(biased), f"['{word}']" if biased else "[]"]
            )
    return path
