"""``demo`` trains the entailment head once, on MiniLM, when the reference pairs are here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from moderation_lab.demo.heads import HEADS_FOLDER, demo_heads

from worker.config.settings import Settings
from worker.errors import ModelError
from worker.model import ModerationModel
from worker.training.runtime import MINILM, resolve_encoder


def minilm_or_skip() -> str:
    try:
        return resolve_encoder(MINILM)
    except ModelError as exc:
        pytest.skip(f"all-MiniLM-L6-v2 is not installed: {exc}")


def test_no_data_no_training(tmp_path: Path, tiny_paths: dict[str, Path]) -> None:
    said: list[str] = []
    assert demo_heads(None, tiny_paths["image"].parent, said.append) == {}
    assert demo_heads(tmp_path, tiny_paths["image"].parent, said.append) == {}  # no CSVs there
    assert said == []


def test_trains_once_and_the_worker_loads_it(
    tmp_path: Path, tiny_paths: dict[str, Path], entailment_csvs: tuple[Path, Path]
) -> None:
    minilm = minilm_or_skip()
    data = tmp_path / "data" / "multimodal-entailment"
    data.mkdir(parents=True)
    shutil.copy(entailment_csvs[0], data / "train_df.csv")
    shutil.copy(entailment_csvs[1], data / "val_df.csv")
    tiny = tmp_path / "models" / "tiny"
    shutil.copytree(tiny_paths["image"], tiny / "image")
    said: list[str] = []

    overrides = demo_heads(tmp_path / "data", tiny, said.append)

    heads = tmp_path / "models" / HEADS_FOLDER
    assert overrides == {"text_encoder": minilm, "heads": heads}
    assert len(said) == 1 and "training the entailment head" in said[0]
    config = json.loads((heads / "heads.json").read_text())
    assert config["text_pooling"] == "mean" and config["lexical_trees"] == 600
    assert config["text_links"] == "strip"
    recipe = json.loads((heads / "training.json").read_text())["config"]
    assert recipe["text_links"] == "strip" and recipe["fit"]["stop_on"] == "head"
    written = (heads / "heads.safetensors").stat().st_mtime_ns
    assert demo_heads(tmp_path / "data", tiny, said.append) == overrides  # reused, not retrained
    assert (heads / "heads.safetensors").stat().st_mtime_ns == written and len(said) == 1
    settings = Settings(text_encoder=minilm, image_encoder=str(tiny / "image"), clip_model="", heads=heads)
    assert ModerationModel.load(settings).identity.heads == HEADS_FOLDER
