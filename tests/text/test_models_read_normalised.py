"""The category heads read normalised text, and the normaliser is part of their identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import worker.text.normalise as text_normalise
from worker.config.fingerprint import settings_sha256
from worker.config.settings import Settings
from worker.errors import CheckpointError
from worker.model.category_head import CategoryHead
from worker.model.types import PostFeatures
from worker.text.normalise import NORMALISER_ID
from worker.training.category import CategoryData, CategoryRecord, CategoryTrainConfig, train_category
from worker.training.store import NoStore

RUDE = ["you stupid idiot", "shut up moron", "what an idiot", "stupid moron go away"]
KIND = ["see you at lunch", "thanks for the photos", "lovely weather today", "how was the trip"]
#: RUDE's words spelt as evaders spell them: look-alikes, invisible characters, leetspeak, spacing
EVADED = [
    "you ѕtupіd іdіot",
    "shut up m\u200bo\u200br\u200bo\u200bn",
    "what an 1d10t",
    "s t u p i d moron go away",
]


def _train(out: Path, normalise: bool = True) -> CategoryRecord:
    texts = [f"{text} {i}" for i in range(12) for text in RUDE + KIND]
    labels = ["1" if text.split()[0] in {t.split()[0] for t in RUDE} else "0" for text in texts]
    config = CategoryTrainConfig(
        name="rude",
        categories={"1": "rude", "0": ""},
        encoder_features=False,
        cv_folds=0,
        min_df=1,
        normalise=normalise,
    )
    return train_category(None, config, CategoryData(texts, labels), NoStore(), out)


def _rude(head: CategoryHead, texts: list[str]) -> list[float]:
    probs = head.probabilities([PostFeatures(raw_text=t) for t in texts])
    return [float(p[head.config.classes.index("1")]) for p in probs]


def test_a_head_trained_on_normalised_text_records_it_and_reads_evasions(tmp_path: Path) -> None:
    record = _train(tmp_path / "head")
    saved = json.loads((tmp_path / "head" / "category.json").read_text())
    assert saved["normaliser"] == NORMALISER_ID == record.normaliser
    assert record.config is not None and record.config.normalise
    head = CategoryHead.load(tmp_path / "head", {})
    assert all(p > 0.5 for p in _rude(head, EVADED)), _rude(head, EVADED)
    assert _rude(head, EVADED) == pytest.approx(_rude(head, RUDE), abs=1e-6)
    assert all(p < 0.5 for p in _rude(head, KIND))


def test_a_head_trained_on_the_text_as_written_misses_the_evasions(tmp_path: Path) -> None:
    record = _train(tmp_path / "head", normalise=False)
    assert record.normaliser is None
    assert json.loads((tmp_path / "head" / "category.json").read_text())["normaliser"] is None
    head = CategoryHead.load(tmp_path / "head", {})
    assert head.reading("ѕtupіd") == "ѕtupіd"
    # what the normaliser is for: as written, every evasion lowers the score
    assert all(e < c for e, c in zip(_rude(head, EVADED), _rude(head, RUDE), strict=True))


def test_a_head_trained_under_another_normaliser_is_refused(tmp_path: Path) -> None:
    _train(tmp_path / "head")
    path = tmp_path / "head" / "category.json"
    saved = json.loads(path.read_text())
    path.write_text(json.dumps({**saved, "normaliser": "moderation-normalise/0+other"}))
    with pytest.raises(CheckpointError, match="normalised by moderation-normalise/0"):
        CategoryHead.load(tmp_path / "head", {})


def test_the_heads_identity_follows_its_normaliser(tmp_path: Path) -> None:
    _train(tmp_path / "a")
    _train(tmp_path / "b", normalise=False)
    with_it, without = CategoryHead.load(tmp_path / "a", {}), CategoryHead.load(tmp_path / "b", {})
    # the weights hash a verdict carries (model.components) covers the head's config
    assert with_it.weights_sha256 != without.weights_sha256


def test_the_settings_hash_changes_with_the_normaliser(monkeypatch: pytest.MonkeyPatch) -> None:
    before = settings_sha256(Settings())
    monkeypatch.setattr(text_normalise, "NORMALISER_ID", "moderation-normalise/999+x")
    assert settings_sha256(Settings()) != before


@pytest.mark.parametrize(("flag", "reads"), [([], NORMALISER_ID), (["--no-normalise"], None)])
def test_train_category_normalises_unless_told_not_to(
    tmp_path: Path, flag: list[str], reads: str | None
) -> None:
    from typer.testing import CliRunner

    from tests.training.conftest import training_cli, write_csv

    rows = [[f"{text} {i}", "1" if text in RUDE else "0"] for i in range(6) for text in RUDE + KIND]
    data = write_csv(tmp_path / "rude.csv", ["message", "rude"], rows)
    args = ["train", "category", "rude", str(data), "--text-column", "message", "--label-column", "rude"]
    args += [
        "--labels",
        "1=rude,0=",
        "--no-encoder-features",
        "--cv",
        "0",
        "--out",
        str(tmp_path / "h"),
        *flag,
    ]
    result = CliRunner().invoke(training_cli(), args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "h" / "category.json").read_text())["normaliser"] == reads
    assert ("TF-IDF reads the normalised text" in result.output) == (reads is not None)
