"""The evasion benchmark: its perturbations, its figures and its table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from moderation_lab.evasion.perturb import FAMILIES, LOOKALIKES, rewrite
from moderation_lab.evasion.run import CLEAN, aim_met, run_suite, table_lines
from moderation_lab.evasion.score import Figures, score_texts

from worker.model.category_head import CategoryHead
from worker.model.types import PostFeatures
from worker.text.confusables import fold_table
from worker.training.category import CategoryData, CategoryTrainConfig, train_category
from worker.training.store import NoStore

TEXT = "@joe_1 you are a stupid idiot, see http://t.co/abcdef #tagged"


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_rewrites_the_text_the_same_way_for_a_seed(family: str) -> None:
    first = [rewrite(TEXT, family, seed) for seed in range(8)]
    assert first == [rewrite(TEXT, family, seed) for seed in range(8)]
    assert sum(text != TEXT for text in first) >= 6  # a word family may leave every word of one
    if family not in ("upper case", "word boundaries removed"):
        for text in first:  # the mention, the link and the hashtag are left for the reader
            assert text.startswith("@joe_1 ") and "http://t.co/abcdef" in text and " #tagged" in text


def test_positions_are_drawn_at_random() -> None:
    seen = {rewrite("stupid stupid stupid stupid", "look-alike letters", seed) for seed in range(20)}
    assert len(seen) > 10


def test_the_look_alikes_are_not_the_normalisers_table() -> None:
    ours = {ch for chars in LOOKALIKES.values() for ch in chars}
    outside = ours - set(fold_table())
    assert len(outside) >= 5, "the benchmark would only test the table against itself"


RUDE = ["you stupid idiot", "shut up moron", "what an idiot"]
KIND = ["see you at lunch", "thanks for the photos", "lovely weather today"]


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> CategoryHead:
    texts = [f"{t} {i}" for i in range(10) for t in RUDE + KIND]
    labels = ["1" if any(t.startswith(r) for r in RUDE) else "0" for t in texts]
    config = CategoryTrainConfig(
        name="rude", categories={"1": "rude", "0": ""}, encoder_features=False, cv_folds=0, min_df=1
    )
    out = tmp_path_factory.mktemp("head")
    train_category(None, config, CategoryData(texts, labels), NoStore(), out)
    return CategoryHead.load(out, {})


def test_the_figures_are_those_of_the_policys_default_threshold(head: CategoryHead) -> None:
    texts = [*RUDE, *KIND, "lunch idiot"]
    labels = ["1", "1", "1", "0", "0", "0", "0"]
    probs = head.probabilities([PostFeatures(raw_text=t) for t in texts])[:, head.config.classes.index("1")]
    flagged = probs >= 0.5
    figures = score_texts(head, texts, labels)
    assert figures.recall == pytest.approx(float(np.mean(flagged[:3])))
    assert figures.false_flags == pytest.approx(float(np.mean(flagged[3:])))
    assert figures.per_category == {"rude": figures.recall}


def test_the_suite_scores_every_family_beside_clean(head: CategoryHead) -> None:
    said: list[str] = []
    results = run_suite({"h": head}, [*RUDE, *KIND], ["1"] * 3 + ["0"] * 3, said.append)
    assert list(results["h"]) == [CLEAN, *FAMILIES]
    assert len(said) == len(FAMILIES) + 1 and said[0].startswith("[1/")
    lines = table_lines(results["h"])
    assert lines[0].startswith("| perturbation | macro-F1 |") and len(lines) == len(FAMILIES) + 3
    assert lines[2].startswith(f"| {CLEAN} |")


def test_the_aim() -> None:
    clean = Figures(0.72, 0.90, 0.03, {})
    assert aim_met(clean, Figures(0.70, 0.88, 0.04, {}))
    assert not aim_met(clean, Figures(0.69, 0.90, 0.03, {}))
    assert not aim_met(clean, Figures(0.72, 0.87, 0.03, {}))
    assert not aim_met(clean, Figures(0.72, 0.90, 0.045, {}))


def test_heads_are_trained_once_per_split_and_normaliser(tmp_path: Path) -> None:
    from moderation_lab.evasion.heads import train_heads

    from worker.training.splits import holdout_split

    texts = [f"{t} {i}" for i in range(10) for t in RUDE + KIND]
    labels = ["1" if any(t.startswith(r) for r in RUDE) else "0" for t in texts]
    data = CategoryData(texts, labels, "sha")
    said: list[str] = []
    folders = train_heads(data, holdout_split(labels), {"1": "rude", "0": ""}, tmp_path, said.append)
    assert set(folders) == {"normalised", "as-written"}
    assert CategoryHead.load(folders["normalised"], {}).config.normaliser is not None
    assert CategoryHead.load(folders["as-written"], {}).config.normaliser is None
    train_heads(data, holdout_split(labels), {"1": "rude", "0": ""}, tmp_path, said.append)
    assert sum("reusing" in line for line in said) == 2
