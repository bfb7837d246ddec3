"""A tiny TF-IDF-only category head, trained in the test session (seconds, offline)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.model.category_head import CategoryHead
from worker.training.category import CategoryTrainConfig, fit_recipe, save_head

LOADED = ["shameless", "bizarre", "radical", "café", "naïve", "İstanbul"]
PLAIN = ["report", "council", "said", "monday", "budget", "meeting"]


def corpus(n: int = 240, seed: int = 0) -> tuple[list[str], list[str]]:
    """Sentences of plain words; 'biased' ones carry one or two loaded words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        words = list(rng.choice(PLAIN, size=5))
        biased = i % 2 == 0
        if biased:
            words[int(rng.integers(0, 5))] = str(rng.choice(LOADED))
            if i % 4 == 0:
                words.insert(int(rng.integers(0, 5)), str(rng.choice(LOADED)))
        texts.append(" ".join(words))
        labels.append("1" if biased else "0")
    return texts, labels


def train_head(folder: Path, ngram_max: int = 2, category: str = "bias") -> CategoryHead:
    texts, labels = corpus()
    config = CategoryTrainConfig(
        name=category,
        categories={"1": category},
        encoder_features=False,
        min_df=1,
        ngram_max=ngram_max,
        cv_folds=0,
    )
    y = np.asarray([int(label) for label in labels])
    fit = fit_recipe(None, texts, y, config, balanced=True)
    save_head(folder, config, ["0", "1"], fit, {})
    return CategoryHead.load(folder, {})


@pytest.fixture(scope="session")
def head(tmp_path_factory: pytest.TempPathFactory) -> CategoryHead:
    return train_head(tmp_path_factory.mktemp("bias-head"))
