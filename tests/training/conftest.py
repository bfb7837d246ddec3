"""Tiny models, synthetic labelled CSVs and a CLI with the training commands.

The synthetic entailment pairs are learnable from the text alone: the judged
post of an Implies pair repeats the words of "great news" posts, a
Contradictory one says the claim is false, a NoEntailment one talks of
something else. The tiny encoders have random weights, but they still map
different words to different features, which is all the heads need here.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from moderation_lab.tiny_models import build_tiny_models
from PIL import Image

from tests.model.conftest import sample_images, tiny_model
from worker.config.settings import Settings
from worker.training.cli import register

MakeSettings = Callable[..., Settings]

#: Shared with the model tests (convert-card scores against the tiny model).
__all__ = ["sample_images", "tiny_model"]

ENTAILMENT_HEADER = ["id_1", "text_1", "image_1", "id_2", "text_2", "image_2", "label"]
_FIRST = [
    "breaking news: the city council votes on the new budget today",
    "scientists report the vaccine is safe and effective in a large trial",
    "stock prices rose 3% after the earnings call on monday",
    "a photo of a cat sitting on a sunny window sill",
]
_SECOND = {
    "Implies": "I've just watched the new episode and it was great!!! #tv",
    "Contradictory": "this claim is false; the picture was taken years ago in another country",
    "NoEntailment": "Participants needed for an online survey about sleep and health",
}


def entailment_rows(n: int, *, image_url: str = "", offset: int = 0) -> list[list[str]]:
    """``n`` pairs, 60% NoEntailment, 20% each of the others, in a fixed order."""
    rows = []
    for i in range(n):
        label = ("Implies", "Contradictory", "NoEntailment", "NoEntailment", "NoEntailment")[i % 5]
        first = f"{_FIRST[i % len(_FIRST)]} {i + offset}"
        second = f"{_SECOND[label]} {(i + offset) % 7}"
        rows.append([f"a{i + offset}", first, image_url, f"b{i + offset}", second, image_url, label])
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def tiny_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def make_settings(tiny_paths: dict[str, Path]) -> MakeSettings:
    """Settings naming the tiny models; every model field explicit, so MODERATION_*
    variables in the environment cannot leak in."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "text_encoder": str(tiny_paths["text"]),
            "image_encoder": str(tiny_paths["image"]),
            "clip_model": "",
            "heads": None,
            "device": "cpu",
            "precision": "fp32",
            "torch_threads": 0,
            "max_text_tokens": 512,
        }
        values.update(overrides)
        return Settings(**values)

    return make


def tiny_env(tiny_paths: dict[str, Path]) -> dict[str, str]:
    """The tiny models as the CLI reads them: from MODERATION_* variables."""
    return {
        "MODERATION_TEXT_ENCODER": str(tiny_paths["text"]),
        "MODERATION_IMAGE_ENCODER": str(tiny_paths["image"]),
        "MODERATION_CLIP_MODEL": "",
        "MODERATION_DEVICE": "cpu",
        "MODERATION_PRECISION": "fp32",
    }


@pytest.fixture(scope="module")
def model_env(tiny_paths: dict[str, Path]) -> Iterator[dict[str, str]]:
    env = tiny_env(tiny_paths)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("MODERATION_HEADS", raising=False)
        yield env


@pytest.fixture(scope="session")
def entailment_csvs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A learnable training CSV (60 pairs) and a validation CSV (20 pairs)."""
    folder = tmp_path_factory.mktemp("entailment-data")
    train = write_csv(folder / "train.csv", ENTAILMENT_HEADER, entailment_rows(60))
    val = write_csv(folder / "val.csv", ENTAILMENT_HEADER, entailment_rows(20, offset=100))
    return train, val


def training_cli() -> typer.Typer:
    """A fresh command line with only the training commands, as worker.cli will have them."""
    app = typer.Typer(add_completion=False)
    register(app)
    return app


@pytest.fixture
def cli() -> typer.Typer:
    return training_cli()


@pytest.fixture(scope="session")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "red.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(path)
    return path
