"""`train` and `evaluate` end to end on tiny models: checkpoint, reports, refusal, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from tests.support.encoders import perturbed_text_encoder
from worker.model import ModerationModel, PostFeatures, ReferenceFeatures
from worker.training.cli import register

from .conftest import MakeSettings, write_csv


def _train(cli: typer.Typer, train: Path, val: Path, out: Path, cache: Path, *extra: str) -> str:
    args = ["train", "entailment", str(train), "--val", str(val), "--out", str(out)]
    args += ["--cache-dir", str(cache), "--epochs", "25", "--patience", "25", "--cv", "3", *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained(
    entailment_csvs: tuple[Path, Path], model_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """One training run shared by the tests that only read its results."""
    folder = tmp_path_factory.mktemp("trained")
    app = typer.Typer(add_completion=False)
    register(app)
    output = _train(app, *entailment_csvs, folder / "heads", folder / "cache")
    return folder / "heads", output


def test_train_writes_a_checkpoint_the_worker_loads(
    trained: tuple[Path, str], make_settings: MakeSettings
) -> None:
    out, output = trained
    heads = json.loads((out / "heads.json").read_text())
    assert heads["name"] == "heads"
    assert heads["entailment_labels"] == {"Contradictory": 0, "Implies": 1, "NoEntailment": 2}
    assert heads["entailment_features"] == "pair"
    assert heads["text_pooling"] == "cls"  # the tiny BERT is no sentence-transformers folder
    assert heads["projection_dim"] == 32  # the tiny text encoder's width
    assert set(heads["encoders"]) == {"text", "image"}
    assert (heads["lexical_trees"], heads["lexical_depth"], heads["lexical_weight"]) == (600, 3, 0.5)
    assert (out / "heads.safetensors").is_file()
    record = json.loads((out / "training.json").read_text())
    assert record["config"]["lexical"]["rounds"] == 200  # the command line asks for the trees
    # ... strips links before encoding, and stops early on the MLP's own figure.
    assert heads["text_links"] == record["config"]["text_links"] == "strip"
    assert record["config"]["fit"]["stop_on"] == "head"
    assert "MLP alone, without its lexical trees" in output
    ent = record["entailment"]
    assert ent["cross_validation"]["folds"] == 3
    assert ent["cv_majority"]["macro_f1"] < 0.3
    assert ent["cross_validation"]["report"]["macro_f1"] > 0.6  # the synthetic rule is learnable
    assert "images" in output and "CV macro-F1" in output and "baseline majority class" in output
    model = ModerationModel.load(make_settings(heads=out))
    assert model.identity.heads == "heads"
    # Trained without images, the head answers the same when the live worker has some.
    assert ent["uses_images"] is False and "the head ignores images" in output
    text = model.encode_texts(["a claim", "a reply"])
    image = model.encode_images([Image.new("RGB", (20, 20), (0, 90, 200))])[0]
    ref = ReferenceFeatures(text=text[0])
    bare, illustrated = model.score(
        [PostFeatures(text=text[1], reference=ref), PostFeatures(text=text[1], images=[image], reference=ref)]
    )
    assert bare.entailment == pytest.approx(illustrated.entailment, abs=1e-6)


def test_evaluate_reports_metrics_baseline_and_png(
    cli: typer.Typer, trained: tuple[Path, str], entailment_csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    out, _ = trained
    report = tmp_path / "reports" / "val.json"
    args = ["evaluate", "entailment", "--heads", str(out), "--data", str(entailment_csvs[1])]
    args += ["--out", str(report)]
    result = CliRunner().invoke(cli, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    body = json.loads(report.read_text())
    assert body["task"] == "entailment" and body["data"]["rows"] == 20
    assert set(body["metrics"]["per_class"]) == {"Contradictory", "Implies", "NoEntailment"}
    assert body["majority_baseline"]["accuracy"] == pytest.approx(0.6)
    assert body["metrics"]["macro_f1"] > body["majority_baseline"]["macro_f1"]
    assert "true \\ predicted" in body["confusion_text"]
    with Image.open(body["confusion_png"]) as png:
        assert png.format == "PNG" and png.width > 300


def test_training_is_reproducible(
    cli: typer.Typer, entailment_csvs: tuple[Path, Path], model_env: dict[str, str], tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _train(cli, *entailment_csvs, first, tmp_path / "cache", "--cv", "0")
    # The second run reads the cached features: the result must not depend on where they came from.
    _train(cli, *entailment_csvs, second, tmp_path / "cache", "--cv", "0")
    assert (first / "heads.safetensors").read_bytes() == (second / "heads.safetensors").read_bytes()
    _train(cli, *entailment_csvs, tmp_path / "other", tmp_path / "cache", "--cv", "0", "--seed", "1")
    other = (tmp_path / "other" / "heads.safetensors").read_bytes()
    assert (first / "heads.safetensors").read_bytes() != other
    assert list((tmp_path / "cache").glob("embeddings-text-*.npz"))
    _train(cli, *entailment_csvs, tmp_path / "plain", tmp_path / "cache", "--cv", "0", "--no-lexical")
    plain = json.loads((tmp_path / "plain" / "heads.json").read_text())
    assert plain["lexical_trees"] == 0
    assert json.loads((tmp_path / "plain" / "training.json").read_text())["config"]["lexical"] is None


def test_a_checkpoint_on_other_encoders_is_refused(
    cli: typer.Typer,
    trained: tuple[Path, str],
    entailment_csvs: tuple[Path, Path],
    tiny_paths: dict[str, Path],
    tmp_path: Path,
) -> None:
    out, _ = trained
    other = perturbed_text_encoder(tiny_paths["text"], tmp_path / "other-text")
    args = [
        "evaluate",
        "entailment",
        "--heads",
        str(out),
        "--data",
        str(entailment_csvs[1]),
        "--out",
        str(tmp_path / "r.json"),
    ]
    result = CliRunner().invoke(cli, [*args, "--text-encoder", str(other), "--cache", "none"])
    assert result.exit_code == 1
    assert "trained on a different text encoder" in result.output


def test_bad_input_is_a_clear_error(cli: typer.Typer, model_env: dict[str, str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("id_1,text_1\n1,hello\n")
    result = CliRunner().invoke(cli, ["train", "entailment", str(broken), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "missing columns" in result.output
    nothing = CliRunner().invoke(cli, ["train", "entailment", "--out", str(tmp_path / "o")])
    assert nothing.exit_code == 2 and "Missing argument 'DATA'" in nothing.output


def test_bias_head_trains_with_images_and_evaluates(
    cli: typer.Typer, model_env: dict[str, str], image_file: Path, tmp_path: Path
) -> None:
    biased = "they always lie about everything, never trust those people"
    plain = "an ordinary everyday photo of friends having lunch in the park"
    rows = [
        [f"{biased} {i}" if i % 3 == 0 else f"{plain} {i}", "", "1" if i % 3 == 0 else "0"] for i in range(45)
    ]
    header = ["text", "image_url", "label", "image_path"]
    data = write_csv(
        tmp_path / "bias.csv",
        header,
        [[*row, str(image_file) if i % 2 else ""] for i, row in enumerate(rows)],
    )
    out = tmp_path / "bias-heads"
    args = ["train", "bias", str(data), "--val", str(data), "--out", str(out), "--cv", "3"]
    result = CliRunner().invoke(cli, [*args, "--epochs", "20", "--cache", "none"])
    assert result.exit_code == 0, result.output
    assert "1/1 images usable" in result.output and "--- bias head ---" in result.output
    record = json.loads((out / "training.json").read_text())
    assert record["entailment"] is None and record["bias"]["validation"]["macro_f1"] > 0.9
    report = tmp_path / "bias.json"
    args = ["evaluate", "bias", "--heads", str(out), "--data", str(data), "--out", str(report)]
    args += ["--cache", "none"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    body = json.loads(report.read_text())
    assert body["task"] == "bias" and body["metrics"]["labels"] == ["unbiased", "biased"]
    assert body["metrics"]["macro_f1"] > 0.9


def test_evaluate_cross_validates_the_recipe(
    cli: typer.Typer, trained: tuple[Path, str], entailment_csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    out, _ = trained
    train, val = entailment_csvs
    report = tmp_path / "cv.json"
    args = ["evaluate", "entailment", "--heads", str(out), "--data", str(train), "--val", str(val)]
    args += ["--cv", "3"]
    result = CliRunner().invoke(cli, [*args, "--out", str(report), "--cache", "none"])
    assert result.exit_code == 0, result.output
    cv = json.loads(report.read_text())["cross_validation"]
    recorded = json.loads((out / "training.json").read_text())["entailment"]
    # The same recipe, seed and folds as `train --cv 3`: the same figures.
    assert cv["cross_validation"] == recorded["cross_validation"]
    assert cv["cv_linear_probe"]["macro_f1"] == recorded["cv_linear_probe"]["macro_f1"]
    assert "cross-validation on this CSV" in result.output
