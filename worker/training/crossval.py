"""k-fold cross-validation of a training recipe, with the figures to beat beside it.

The validation split of the entailment data is tiny (5 Implies, 5 Contradictory),
so the figure to improve is the cross-validated macro-F1 on the training CSV:
stratified folds, each trained exactly as ``train`` trains (same seed, same
early stopping on the validation CSV, or on a stratified tenth of the fold's
training part when there is none), predictions pooled over the held-out folds.
The heads end as they began.

Example::

    cv = cross_validate(task, train_index, val_index, FitConfig(), projections(bias), folds=5)
    cv.report.macro_f1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from worker.training.encode import IntArray
from worker.training.fit import FitConfig, fit, predict
from worker.training.metrics import Report, classification_report
from worker.training.tasks import Task

__all__ = ["CrossValidation", "cross_validate", "stratified_folds"]


class CrossValidation(BaseModel):
    model_config = ConfigDict(frozen=True)

    folds: int
    seed: int
    report: Report
    fold_macro_f1: list[float]
    best_epochs: list[int]
    #: For a blended head (entailment with lexical trees): the MLP's own figure.
    mlp_alone_macro_f1: float | None = None


def stratified_folds(labels: IntArray, folds: int, seed: int) -> IntArray:
    """A fold number per example; each class is spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    assignment = np.zeros(len(labels), dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rng.shuffle(members)
        # Rotating the start keeps fold sizes even when classes are small.
        assignment[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return assignment


def cross_validate(
    task: Task,
    train_index: IntArray,
    val_index: IntArray,
    config: FitConfig,
    projections: Sequence[nn.Module],
    folds: int = 5,
) -> CrossValidation:
    """Out-of-fold predictions of ``train_index`` by heads trained on the other folds."""
    modules = [*task.heads, *projections]
    initial = [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]
    labels = task.labels.numpy()[train_index]
    assignment = stratified_folds(labels, folds, config.seed)
    predicted = np.zeros(len(train_index), dtype=np.int64)
    mlp_alone = np.zeros(len(train_index), dtype=np.int64)
    scores, epochs = [], []
    for fold in range(folds):
        _reset(modules, initial)
        held_out = assignment == fold
        fold_train, fold_val = _with_validation(train_index[~held_out], val_index, task, config.seed)
        task.prepare_fold(fold_train)
        result = fit(task, fold_train, fold_val, config, projections)
        predicted[held_out] = predict(task, train_index[held_out]).argmax(axis=1)
        mlp_alone[held_out] = predict(task, train_index[held_out], blended=False).argmax(axis=1)
        scores.append(classification_report(labels[held_out], predicted[held_out], task.classes).macro_f1)
        epochs.append(result.best_epoch)
    _reset(modules, initial)
    return CrossValidation(
        folds=folds,
        seed=config.seed,
        report=classification_report(labels, predicted, task.classes),
        fold_macro_f1=scores,
        best_epochs=epochs,
        mlp_alone_macro_f1=(
            classification_report(labels, mlp_alone, task.classes).macro_f1 if task.blended else None
        ),
    )


def _with_validation(
    train_index: IntArray, val_index: IntArray, task: Task, seed: int
) -> tuple[IntArray, IntArray]:
    """The given validation examples, or a stratified tenth of ``train_index``."""
    if len(val_index):
        return train_index, val_index
    inner = stratified_folds(task.labels.numpy()[train_index], 10, seed + 1)
    return train_index[inner != 0], train_index[inner == 0]


def _reset(modules: Sequence[nn.Module], states: Sequence[dict[str, torch.Tensor]]) -> None:
    for module, state in zip(modules, states, strict=True):
        module.load_state_dict(state)
