"""``train bias --fine-tune`` on BABE's columns, then ``evaluate category`` on the folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from worker.training.cli import register

pytest.importorskip("onnxruntime")


def test_train_bias_fine_tune_reads_babe_columns_and_evaluate_prints_thresholds(
    small_csv: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    app = typer.Typer(add_completion=False)
    register(app)
    out = tmp_path / "bias"
    trained = CliRunner().invoke(
        app,
        [
            "train",
            "bias",
            str(small_csv),
            "--out",
            str(out),
            "--fine-tune",
            "--text-encoder",
            str(tiny_encoder),
            "--fine-tune-set",
            "epochs=1",
            "--fine-tune-set",
            "batch_size=8",
            "--threads",
            "1",
        ],
    )
    assert trained.exit_code == 0, trained.output
    text = trained.output
    assert "declared protocol: stratified 80%/20% split, seed 0" in text
    for name in ("fine-tuned", "tfidf", "frozen+tfidf"):
        assert f"  {name} " in text
    assert "MODERATION_POLICY entry" in text and "ONNX int8" in text and '"kind": "finetuned"' in text
    config = json.loads((out / "finetune.json").read_text())
    assert config["categories"] == {"0": "", "1": "bias"} and config["recipe"]["epochs"] == 1

    report = tmp_path / "eval.json"
    evaluated = CliRunner().invoke(
        app, ["evaluate", "category", "--heads", str(out), "--data", str(small_csv), "--out", str(report)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "macro-F1" in evaluated.output and "bias: threshold" in evaluated.output
    assert "precision" in json.loads(report.read_text())["categories"]["bias"]


def test_a_bad_recipe_field_is_refused_with_its_name(small_csv: Path, tmp_path: Path) -> None:
    app = typer.Typer(add_completion=False)
    register(app)
    result = CliRunner().invoke(
        app,
        [
            "train",
            "category",
            "x",
            str(small_csv),
            "--fine-tune",
            "--fine-tune-set",
            "epochz=1",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 1 and "epochz" in result.output
