"""Verdicts name models by a stable name and weights hash, never by a path of the host."""

from __future__ import annotations

import json
from pathlib import Path

from worker.model.identity import model_name

SHA = "0123456789abcdef" * 4


def test_a_hub_id_keeps_its_name() -> None:
    assert model_name("google/vit-base-patch16-224", SHA) == "google/vit-base-patch16-224@sha256:0123456789ab"


def test_a_local_folder_is_named_by_the_hub_id_it_was_saved_from(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "text"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"_name_or_path": "bert-base-uncased"}))
    name = model_name(folder, SHA)
    assert name == "bert-base-uncased@sha256:0123456789ab"
    assert str(tmp_path) not in name


def test_a_local_folder_saved_from_a_path_is_named_by_its_own_name(tmp_path: Path) -> None:
    folder = tmp_path / "venv" / "site-packages" / "tiny-text"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"_name_or_path": str(tmp_path / "elsewhere")}))
    assert model_name(folder, SHA) == "tiny-text@sha256:0123456789ab"
    (folder / "config.json").write_text("{not json")
    assert model_name(folder, SHA) == "tiny-text@sha256:0123456789ab"
