"""train --category: a category head on the shared encoders, then scored by the worker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from sklearn.feature_extraction.text import TfidfVectorizer
from typer.testing import CliRunner

from tests.test_pipeline import post, run
from worker.config.classifiers import ClassifierSpec
from worker.config.policy import CategoryRule
from worker.errors import CheckpointError, ConfigError
from worker.model import ModerationModel
from worker.model.category_head import CategoryHead, TfidfConfig, tfidf_matrix
from worker.model.heads import HeadsConfig
from worker.model.types import PostFeatures
from worker.training.category import (
    CategoryData,
    CategoryTrainConfig,
    category_features,
    fit_recipe,
    save_head,
    train_category,
)
from worker.training.category_cli import image_refs
from worker.training.encode import encode_texts
from worker.training.store import NoStore
from worker.verdicts.policy import check_policy

from .conftest import MakeSettings, training_cli, write_csv

SPAM = ["win a free prize now", "cheap pills click here", "free money click now", "claim your prize today"]
HAM = ["see you at lunch", "the meeting moved to monday", "thanks for the photos", "how was the trip"]


def spam_rows(n: int) -> list[list[str]]:
    return [[f"{(SPAM if i % 2 else HAM)[i % 4]} {i}", str(i % 2)] for i in range(n)]


@pytest.fixture(scope="module")
def spam_head(model_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("spam")
    data = write_csv(folder / "spam.csv", ["message", "is_spam"], spam_rows(60))
    args = ["train", "category", "spam", str(data), "--text-column", "message", "--label-column", "is_spam"]
    args += ["--labels", "1=spam,0=", "--out", str(folder / "head"), "--cv", "3", "--cache", "none"]
    result = CliRunner().invoke(training_cli(), args)
    assert result.exit_code == 0, result.output
    return folder / "head", result.output


def _model_with_head(head: Path, category: str, make_settings: MakeSettings) -> ModerationModel:
    """The tiny model with the category head in ``head`` added, ``category`` flagging at 0.5."""
    spec = ClassifierSpec(kind="head", source=str(head))
    settings = make_settings(classifiers=(spec,), policy={category: CategoryRule(threshold=0.5)})
    return ModerationModel.load(settings, fresh_heads=HeadsConfig(text_links="strip"))


def test_train_reports_cross_validation_baselines_confusion_and_minutes(spam_head: tuple[Path, str]) -> None:
    folder, output = spam_head
    assert "cross-validation on spam.csv: macro-F1" in output
    assert "baseline, encoder features + logistic regression" in output
    assert "baseline, TF-IDF + class-weighted logistic regression" in output
    assert "true \\ predicted" in output and "minutes:" in output
    record = json.loads((folder / "training.json").read_text())
    assert record["cv"]["examples"] == 60 and record["cv"]["macro_f1"] > 0.9  # learnable by its words
    config = json.loads((folder / "category.json").read_text())
    assert config["categories"] == {"1": "spam", "0": ""} and config["inputs"] == "text"


def _evaluate(cli: typer.Typer, folder: Path, data: Path, out: Path, *extra: str) -> tuple[int, str]:
    args = [
        "evaluate",
        "category",
        "--heads",
        str(folder),
        "--data",
        str(data),
        "--out",
        str(out),
        "--cache",
        "none",
    ]
    result = CliRunner().invoke(cli, [*args, "--text-column", "message", "--label-column", "is_spam", *extra])
    return result.exit_code, result.output


def test_evaluate_scores_the_head_and_reruns_its_recipe_on_the_same_folds(
    spam_head: tuple[Path, str], cli: typer.Typer, tmp_path: Path
) -> None:
    folder, _ = spam_head
    data = folder.parent / "spam.csv"
    code, output = _evaluate(cli, folder, data, tmp_path / "report.json", "--cv", "3")
    assert code == 0, output
    assert "category head 'spam' on" in output and "baseline majority class: macro-F1" in output
    assert "WARNING: the head was trained on this CSV" in output
    assert "3-fold cross-validation" in output and "baseline, TF-IDF + class-weighted" in output
    report = json.loads((tmp_path / "report.json").read_text())
    trained = json.loads((folder / "training.json").read_text())
    assert report["metrics"]["examples"] == 60 and report["metrics"]["macro_f1"] > 0.9
    assert report["majority_baseline"]["macro_f1"] < 0.5
    # The recorded recipe, re-run with the same seed and folds, gives training's own figure.
    assert report["cross_validation"]["recipe"] == trained["cv"]
    assert (tmp_path / "report.png").stat().st_size > 0


def test_evaluate_refuses_labels_the_head_does_not_know(
    spam_head: tuple[Path, str], cli: typer.Typer, tmp_path: Path
) -> None:
    folder, _ = spam_head
    data = write_csv(tmp_path / "other.csv", ["message", "is_spam"], [["hello", "0"], ["buy now", "2"]])
    code, output = _evaluate(cli, folder, data, tmp_path / "report.json")
    assert code != 0
    assert "labels ['2'] are not classes of 'spam'" in output and "Traceback" not in output


async def test_the_worker_scores_the_category_in_every_verdict(
    spam_head: tuple[Path, str], make_settings: MakeSettings
) -> None:
    model = _model_with_head(spam_head[0], "spam", make_settings)
    settings = model.settings
    assert model.category_names == {"spam"}
    assert "classifier:spam" in model.identity.components
    check_policy(settings, model.category_names)
    with pytest.raises(ConfigError):
        check_policy(settings.model_copy(update={"policy": {"spma": CategoryRule()}}), model.category_names)
    publisher, _, _ = await run(
        [post("s", text="win a free prize now"), post("h", text="see you at lunch")], model
    )  # type: ignore[arg-type]
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    assert verdicts["s"]["category_scores"]["spam"] > 0.5 > verdicts["h"]["category_scores"]["spam"]
    assert verdicts["s"]["category_applied_input_types"]["spam"] == ["text"]
    # It reads the tiny text encoder's features, and those weights are random: no flag.
    assert "spam" in verdicts["s"]["untrained_categories"] and not verdicts["s"]["categories"]["spam"]


async def test_a_head_on_tfidf_alone_flags_with_its_reason(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    model = ModerationModel.load(make_settings(), fresh_heads=HeadsConfig(text_links="strip"))
    texts, labels = [row[0] for row in spam_rows(40)], np.array([int(row[1]) for row in spam_rows(40)])
    config = CategoryTrainConfig(name="spam", encoder_features=False, categories={"1": "spam", "0": ""})
    save_head(tmp_path / "head", config, ["0", "1"], fit_recipe(None, texts, labels, config, True), {})
    spec = ClassifierSpec(kind="head", source=str(tmp_path / "head"))
    model = ModerationModel.load(
        make_settings(classifiers=(spec,)), fresh_heads=HeadsConfig(text_links="strip")
    )
    publisher, _, _ = await run(
        [post("s", text="win a free prize now"), post("h", text="see you at lunch")], model
    )  # type: ignore[arg-type]
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    assert verdicts["s"]["categories"]["spam"] and not verdicts["h"]["categories"]["spam"]
    assert any(r.startswith("spam: ") for r in verdicts["s"]["flag_reasons"])
    assert verdicts["s"]["untrained_categories"] == ["bias"]


def test_the_head_answers_as_the_fitted_scikit_learn_model(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    model = ModerationModel.load(make_settings(), fresh_heads=HeadsConfig(text_links="strip"))
    texts = [row[0] for row in spam_rows(40)]
    labels = np.array([int(row[1]) for row in spam_rows(40)])
    dense = encode_texts(model, texts, NoStore())
    config = CategoryTrainConfig(name="spam", min_df=1)
    fit = fit_recipe(dense, texts, labels, config, balanced=True)
    save_head(tmp_path / "head", config, ["0", "1"], fit, {"text": model.encoder_ids["text"]})
    head = CategoryHead.load(tmp_path / "head", model.encoder_ids)
    features = [PostFeatures(text=dense[i], raw_text=t) for i, t in enumerate(texts)]
    expected = fit.model.predict_proba(fit.design(dense, texts))
    np.testing.assert_allclose(head.probabilities(features), expected, atol=1e-4)


def test_a_multi_class_head_keeps_scikit_learns_weights(tmp_path: Path) -> None:
    """lbfgs leaves a multinomial coef_ as a strided view; the file must hold it in order."""
    texts = [f"{word} {i}" for i in range(30) for word in ("free prize", "lunch today", "you idiot")]
    labels = np.array([i % 3 for i in range(90)])
    config = CategoryTrainConfig(name="three", encoder_features=False, min_df=1)
    fit = fit_recipe(None, texts, labels, config, True)
    save_head(tmp_path / "head", config, ["0", "1", "2"], fit, {})
    head = CategoryHead.load(tmp_path / "head", {})
    np.testing.assert_allclose(head.t["weight"], fit.model.coef_, atol=1e-6)
    queries = ["free prize now", "you idiot", "lunch"]
    expected = fit.model.predict_proba(fit.design(None, queries))
    np.testing.assert_allclose(
        head.probabilities([PostFeatures(raw_text=q) for q in queries]), expected, atol=1e-5
    )


def test_our_tfidf_is_scikit_learns() -> None:
    texts = ["the cat sat on the mat", "The Cat! the cat?", "dogs and cats", ""]
    reference = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    config = TfidfConfig(ngram_range=(1, 2), vocabulary={k: int(v) for k, v in reference.vocabulary_.items()})
    ours = tfidf_matrix(texts, config, reference.idf_.astype(np.float32)).toarray()
    np.testing.assert_allclose(ours, reference.transform(texts).toarray(), atol=1e-6)


def test_a_head_trained_on_other_features_is_refused(
    spam_head: tuple[Path, str], make_settings: MakeSettings
) -> None:
    model = ModerationModel.load(make_settings(), fresh_heads=HeadsConfig(text_pooling="mean"))
    with pytest.raises(CheckpointError, match="other text features"):
        CategoryHead.load(spam_head[0], model.encoder_ids)


def photo_rows(folder: Path, n: int) -> list[list[str]]:
    """``n`` rows, odd ones reddish photos ("warm"), even ones bluish; the last names a
    file that is not there, and one row holds two photos."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        warm = i % 2 == 1
        base = (200, 20, 20) if warm else (20, 40, 200)
        for k in range(2 if i == 3 else 1):
            colour = tuple(int(c + rng.integers(-15, 16)) for c in base)
            size = (int(rng.integers(32, 64)), int(rng.integers(32, 64)))
            Image.new("RGB", size, colour).save(folder / f"p{i}-{k}.png")
        names = "p3-0.png p3-1.png" if i == 3 else f"p{i}-0.png"
        rows.append([f"post {i}", names, str(int(warm))])
    rows.append(["post gone", "gone.png", "1"])
    return rows


@pytest.fixture(scope="module")
def photo_head(model_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("photos")
    data = write_csv(folder / "photos.csv", ["caption", "photo", "warm"], photo_rows(folder, 40))
    args = ["train", "category", "warm", str(data), "--text-column", "caption", "--label-column", "warm"]
    args += ["--inputs", "image", "--image-column", "photo", "--labels", "1=warm,0="]
    args += ["--out", str(folder / "head"), "--cv", "3", "--cache", "none"]
    result = CliRunner().invoke(training_cli(), args)
    assert result.exit_code == 0, result.output
    return folder / "head", result.output


def test_an_image_head_learns_from_the_images_and_leaves_out_rows_without_one(
    photo_head: tuple[Path, str], cli: typer.Typer, tmp_path: Path
) -> None:
    folder, output = photo_head
    assert "category head 'warm' on image: 40 examples" in output
    assert "images: 41/42 images usable (1 unreadable file (FileNotFoundError)" in output
    assert "rows left out (1 no usable image)" in output
    assert "baseline, encoder features + logistic regression" in output and "TF-IDF" not in output
    record = json.loads((folder / "training.json").read_text())
    assert record["cv"]["macro_f1"] > 0.9 and record["left_out"] == {"no usable image": 1}
    config = json.loads((folder / "category.json").read_text())
    assert config["inputs"] == "image" and set(config["feature_ids"]) == {"image"} and config["tfidf"] is None
    # evaluate reads the same column, scores as the worker does, and re-runs the recipe.
    args = ["evaluate", "category", "--heads", str(folder), "--data", str(folder.parent / "photos.csv")]
    args += ["--out", str(tmp_path / "report.json"), "--cache", "none", "--cv", "3"]
    args += ["--text-column", "caption", "--label-column", "warm", "--image-column", "photo"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["rows"] == 40 and report["left_out"] == {"no usable image": 1}
    assert report["metrics"]["macro_f1"] > 0.9
    assert report["cross_validation"]["recipe"] == record["cv"]
    without = CliRunner().invoke(cli, [a for a in args if a not in ("--image-column", "photo")])
    assert without.exit_code == 1 and "name them with --image-column" in without.output


def test_image_options_are_checked_in_one_line(
    model_env: dict[str, str], cli: typer.Typer, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "d.csv", ["text", "label", "photo"], [["a", "0", ""], ["b", "1", ""]])
    base = ["train", "category", "c", str(data), "--cache", "none", "--out", str(tmp_path / "h")]
    cases = {
        ("--inputs", "image"): "name them with --image-column",
        ("--inputs", "image", "--image-column", "photo", "--tfidf"): "TF-IDF reads text",
        ("--inputs", "image", "--image-column", "pic"): "no column ['pic']",
    }
    for extra, message in cases.items():
        result = CliRunner().invoke(cli, [*base, *extra])
        assert result.exit_code == 1 and message in result.output, (extra, result.output)
        assert "Traceback" not in result.output
    # What the command line itself can check, it refuses before anything runs.
    result = CliRunner().invoke(cli, [*base, "--inputs", "video"])
    assert result.exit_code == 2 and "Invalid value for '--inputs'" in result.output


async def test_the_worker_scores_an_image_category_on_posts_with_images(
    photo_head: tuple[Path, str], make_settings: MakeSettings
) -> None:
    model = _model_with_head(photo_head[0], "warm", make_settings)
    publisher, _, _ = await run(
        [post("red", images=["https://img.test/ok/40x30.png"]), post("text", text="no picture")], model
    )  # type: ignore[arg-type]
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    # The test server's PNG is red: the head, trained on reddish photos, says warm.
    assert verdicts["red"]["category_scores"]["warm"] > 0.5
    assert verdicts["red"]["category_applied_input_types"]["warm"] == ["image"]
    assert "warm" not in verdicts["text"]["category_scores"]  # no image: the head has no say
    # The tiny image encoder's weights are random: the score is shown, it never flags.
    assert "warm" in verdicts["red"]["untrained_categories"] and not verdicts["red"]["categories"]["warm"]


def test_a_text_and_image_head_reads_its_features_in_the_order_it_was_trained(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    model = ModerationModel.load(make_settings(), fresh_heads=HeadsConfig(text_links="strip"))
    rows = photo_rows(tmp_path, 24)
    rows[0][0] = " "  # a row without text: a text+image head has no say on it
    data = CategoryData(
        [r[0] for r in rows], [r[2] for r in rows], None, [image_refs(r[1], tmp_path) for r in rows]
    )
    features = category_features(model, data, "text+image", True, NoStore())
    assert features.left_out == {"no text": 1, "no usable image": 1} and len(features.rows) == 23
    assert features.text is not None and features.images is not None and len(features.images[2]) == 2
    config = CategoryTrainConfig(name="warm", inputs="text+image", min_df=1)
    texts = [data.texts[i] for i in features.rows]
    y = np.array([int(data.labels[i]) for i in features.rows])
    dense = features.dense()
    fit = fit_recipe(dense, texts, y, config, balanced=True)
    ids = {kind: model.encoder_ids[kind] for kind in ("text", "image")}
    save_head(tmp_path / "head", config, ["0", "1"], fit, ids)
    head = CategoryHead.load(tmp_path / "head", model.encoder_ids)
    posts = [
        PostFeatures(text=features.text[k], images=features.images[k], raw_text=texts[k])
        for k in range(len(texts))
    ]
    assert all(head.applies(p) for p in posts) and not head.applies(PostFeatures(raw_text="only text"))
    expected = fit.model.predict_proba(fit.design(dense, texts))
    np.testing.assert_allclose(head.probabilities(posts), expected, atol=1e-4)


def test_train_chooses_thresholds_and_a_temperature_on_out_of_fold_scores(tmp_path: Path) -> None:
    rows = spam_rows(60)
    data = CategoryData([r[0] for r in rows], [r[1] for r in rows])
    config = CategoryTrainConfig(
        name="spam", encoder_features=False, categories={"1": "spam", "0": ""}, cv_folds=3, min_df=1
    )
    record = train_category(None, config, data, NoStore(), tmp_path / "head")
    chosen = record.decision["categories"]["spam"]
    assert chosen["class"] == "1" and 0 < chosen["chosen"]["threshold"] < 1
    assert record.decision["scores_from"] == "out-of-fold"
    assert any(line.startswith("MODERATION_POLICY") for line in record.decision["lines"])
    head = CategoryHead.load(tmp_path / "head", {})
    assert head.config.temperature == pytest.approx(record.decision["temperature"])
    # the served probabilities are the calibrated ones: logits divided by the temperature
    posts = [PostFeatures(raw_text=r[0]) for r in rows[:4]]
    logits = np.asarray(head.features(posts) @ head.t["weight"].T) + head.t["bias"]
    scaled = np.exp(logits / head.config.temperature)
    np.testing.assert_allclose(head.probabilities(posts), scaled / scaled.sum(1, keepdims=True), atol=1e-5)
