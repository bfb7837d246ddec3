"""The lexical trees' booster: it learns what a linear model cannot, deterministically,
and the tensors it fills answer as its own routing did."""

from __future__ import annotations

import numpy as np
import torch

from worker.training.boost import BoostConfig, fit_trees


def xor_data(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 4))
    labels = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64) + (x[:, 2] > 0.6)  # 3 classes
    return x, np.minimum(labels, 2)


def predict(x: np.ndarray, config: BoostConfig, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    trees = fit_trees(x, labels, np.ones(3), config, seed).to_module()
    with torch.no_grad():
        out: np.ndarray = trees(torch.tensor(x, dtype=torch.float32)).argmax(dim=1).numpy()
    return out


def test_learns_an_interaction_no_linear_model_can() -> None:
    x, labels = xor_data()
    config = BoostConfig(rounds=60, learning_rate=0.3, min_child=5, row_fraction=1.0, feature_fraction=1.0)
    train_accuracy = (predict(x, config, labels) == labels).mean()
    held_x, held_labels = xor_data(seed=1)
    trees = fit_trees(x, labels, np.ones(3), config).to_module()
    with torch.no_grad():
        held = trees(torch.tensor(held_x, dtype=torch.float32)).argmax(dim=1).numpy()
    assert train_accuracy > 0.9
    assert (held == held_labels).mean() > 0.85
    majority = np.bincount(held_labels).max() / len(held_labels)
    assert (held == held_labels).mean() > majority + 0.3


def test_same_seed_same_trees_other_seed_other_trees() -> None:
    x, labels = xor_data()
    config = BoostConfig(rounds=10)
    a, b = (fit_trees(x, labels, np.ones(3), config, seed=4) for _ in range(2))
    c = fit_trees(x, labels, np.ones(3), config, seed=5)
    np.testing.assert_array_equal(a.threshold, b.threshold)
    np.testing.assert_array_equal(a.leaf, b.leaf)
    assert not np.array_equal(a.threshold, c.threshold)


def test_no_leaf_holds_fewer_than_min_child() -> None:
    x, labels = xor_data(40)
    trees = fit_trees(x, labels, np.ones(3), BoostConfig(rounds=3, min_child=21))
    assert np.isinf(trees.threshold).all()  # 40 rows cannot make two leaves of 21
    module = trees.to_module()
    with torch.no_grad():
        logits = module(torch.tensor(x, dtype=torch.float32))
    assert torch.allclose(logits, logits[0].expand_as(logits))  # one answer for everyone


def test_class_weights_make_a_rare_class_heard() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 2))
    labels = np.zeros(300, dtype=np.int64)
    labels[x[:, 0] > 1.6] = 1  # about 5%
    config = BoostConfig(rounds=30, learning_rate=0.2, min_child=3)
    plain = predict(x, config, labels)
    weights = np.array([1.0, 300 / max(1, (labels == 1).sum()), 1.0])
    weighted = fit_trees(x, labels, weights, config).to_module()
    with torch.no_grad():
        heard = weighted(torch.tensor(x, dtype=torch.float32)).argmax(dim=1).numpy()
    recall = lambda p: ((p == 1) & (labels == 1)).sum() / (labels == 1).sum()  # noqa: E731
    assert recall(heard) >= recall(plain) and recall(heard) > 0.8
