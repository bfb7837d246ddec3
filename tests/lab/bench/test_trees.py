"""The trees comparison: same folds and weights for every booster, figures that add up."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from moderation_lab.bench.trees import FITTERS, class_weight, compare_trees, ours

from worker.training.crossval import stratified_folds
from worker.training.fit import class_weights


def separable(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes told apart by the first of four features (the rest is noise)."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), [n // 6, n // 6, n - n // 3]).astype(np.int64)
    x = rng.normal(size=(n, 4))
    x[:, 0] = y + rng.normal(scale=0.1, size=n)
    return x, y


def test_class_weight_is_trains() -> None:
    y = np.array([0] * 5 + [1] * 15 + [2] * 80, dtype=np.int64)
    expected = class_weights(torch.from_numpy(y), 3).numpy()
    assert class_weight(y) == pytest.approx(expected, rel=1e-6)


def test_our_trees_learn_and_are_timed() -> None:
    x, y = separable()
    folds = stratified_folds(y, 3, seed=0)
    results = compare_trees(x, y, folds, fitters={"ours": ours}, timing_calls=3)
    figures = results["ours"]
    assert figures["macro_f1"] > 0.9 and len(figures["fold_macro_f1"]) == 3
    assert set(figures["recall"]) == {"Contradictory", "Implies", "NoEntailment"}
    assert figures["ms_per_post_one_at_a_time"] > 0 and figures["ms_per_post_eight_at_a_time"] > 0


def test_scikit_learn_on_the_same_folds() -> None:
    pytest.importorskip("sklearn", reason="scikit-learn is installed only for this measurement")
    x, y = separable(300)  # scikit-learn's defaults want 20 rows a leaf
    results = compare_trees(x, y, stratified_folds(y, 3, seed=0), timing_calls=3)
    assert list(results) == list(FITTERS)
    assert all(figures["macro_f1"] > 0.9 for figures in results.values())
