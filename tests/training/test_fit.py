"""The training loop's policy: class weights, focal loss, early stopping, folds, seeds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from worker.training.crossval import cross_validate, stratified_folds
from worker.training.fit import FitConfig, class_weights, fit, loss_fn, predict
from worker.training.tasks import Task, standardise_projection


def test_class_weights_are_inverse_frequencies_with_mean_one() -> None:
    labels = torch.tensor([0] * 2 + [1] * 2 + [2] * 16)
    weights = class_weights(labels, 3)
    assert weights[0] == pytest.approx(weights[1]) and weights[0] == pytest.approx(8 * weights[2])
    assert weights[labels].mean() == pytest.approx(1.0)


def test_focal_loss() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]])
    labels = torch.tensor([0, 2, 1])
    weights = torch.tensor([1.0, 2.0, 0.5])
    expected = F.cross_entropy(logits, labels, weight=weights)
    assert loss_fn(logits, labels, weights, gamma=0.0) == pytest.approx(float(expected))
    # Focal loss shrinks the loss of confident, correct examples the most.
    assert loss_fn(logits, labels, weights, gamma=2.0) < expected


def _toy_task(seed: int = 0) -> Task:
    """Three Gaussian blobs, one rare: learnable, imbalanced."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * 20 + [1] * 20 + [2] * 120)
    centres = np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    x = torch.from_numpy((centres[labels] + rng.normal(0, 0.5, (len(labels), 2))).astype(np.float32))
    head = nn.Sequential(nn.Dropout(0.1), nn.Linear(2, 8), nn.GELU(), nn.Linear(8, 3))

    def logits(index: Tensor) -> Tensor:
        out: Tensor = head(x[index])
        return out

    return Task("toy", ("a", "b", "c"), torch.from_numpy(labels), logits, [head], lambda: None)


def test_fit_learns_and_keeps_the_best_epoch() -> None:
    task = _toy_task()
    index = np.arange(160)
    train, val = index[index % 4 != 0], index[index % 4 == 0]
    result = fit(task, train, val, FitConfig(epochs=30, patience=30, lr=0.05))
    assert result.best_val_macro_f1 is not None and result.best_val_macro_f1 > 0.85
    assert 1 <= result.best_epoch <= result.epochs_run == 30
    best = max(h["val_macro_f1"] for h in result.history)
    assert result.best_val_macro_f1 == best
    # The weights kept are those of the best epoch, not the last.
    predicted = predict(task, val).argmax(axis=1)
    assert (predicted == task.labels.numpy()[val]).mean() > 0.85


def test_early_stopping_stops() -> None:
    task = _toy_task()
    index = np.arange(160)
    result = fit(task, index[20:], index[:20], FitConfig(epochs=200, patience=3, lr=0.05))
    assert result.epochs_run < 200 and result.epochs_run - result.best_epoch == 3


def test_same_seed_same_weights() -> None:
    runs = []
    for _ in range(2):
        task = _toy_task()
        torch.manual_seed(123)  # the head's initial weights
        task.heads[0].load_state_dict(
            nn.Sequential(nn.Dropout(0.1), nn.Linear(2, 8), nn.GELU(), nn.Linear(8, 3)).state_dict()
        )
        fit(task, np.arange(40, 160), np.arange(40), FitConfig(epochs=5, seed=7))
        runs.append(torch.cat([p.flatten() for p in task.heads[0].parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_stratified_folds_spread_every_class() -> None:
    labels = np.array([0] * 9 + [1] * 9 + [2] * 100)
    folds = stratified_folds(labels, 5, seed=0)
    for fold in range(5):
        counts = np.bincount(labels[folds == fold], minlength=3)
        assert counts[0] in (1, 2) and counts[1] in (1, 2) and 19 <= counts[2] <= 21
    assert np.array_equal(folds, stratified_folds(labels, 5, seed=0))


def test_cross_validation_restores_the_heads() -> None:
    task = _toy_task()
    before = [p.clone() for p in task.heads[0].parameters()]
    cv = cross_validate(task, np.arange(160), np.arange(0), FitConfig(epochs=10, lr=0.05), (), folds=4)
    assert cv.report.examples == 160 and len(cv.fold_macro_f1) == 4
    assert cv.report.macro_f1 > 0.8
    assert all(torch.equal(a, b) for a, b in zip(before, task.heads[0].parameters(), strict=True))


def test_standardised_projection() -> None:
    rng = np.random.default_rng(0)
    features = (rng.normal(5.0, 0.01, (200, 6))).astype(np.float32)  # tiny spread, far from 0
    projection = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.1)).eval()
    standardise_projection(projection, features, seed=0)
    out = projection(torch.from_numpy(features)).detach()
    assert out.mean(dim=0).abs().max() < 1e-3
    # A rotation of unit-variance features: the total variance is kept, 6 dimensions' worth.
    assert out.var(dim=0).sum() == pytest.approx(6.0, rel=0.05)


def test_early_stopping_scores_the_head_alone_or_the_blend() -> None:
    """A blended task whose blend ignores the head (always the majority class): stopping
    on the blend sees no epoch improve; stopping on the head follows the head's learning."""
    index = np.arange(160)
    train, val = index[index % 4 != 0], index[index % 4 == 0]
    majority = torch.tensor([0.0, 0.0, 1.0])

    def always_majority(batch: Tensor) -> Tensor:
        return majority.expand(len(batch), 3)

    figures = {}
    for stop_on in ("blend", "head"):
        task = dataclasses.replace(_toy_task(), blended=always_majority)
        result = fit(task, train, val, FitConfig(epochs=20, patience=20, lr=0.05, stop_on=stop_on))
        figures[stop_on] = [h["val_macro_f1"] for h in result.history]
        # Whatever early stopping scored, predictions are what the worker gives: the blend.
        assert (predict(task, val).argmax(axis=1) == 2).all()
        assert (predict(task, val, blended=False).argmax(axis=1) == 2).mean() < 0.9
    assert len(set(figures["blend"])) == 1 and figures["blend"][0] < 0.35
    assert max(figures["head"]) > 0.85


def test_recipes_recorded_before_stop_on_existed_stopped_on_the_blend() -> None:
    assert FitConfig.model_validate({"seed": 3}).stop_on == "blend"
    with pytest.raises(ValueError, match="stop_on"):
        FitConfig(stop_on="mlp")  # type: ignore[arg-type]
