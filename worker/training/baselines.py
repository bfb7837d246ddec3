"""Reference points measured on the same folds: majority class and a linear probe.

The linear probe is the issue's frozen-embedding baseline: multinomial logistic
regression (L-BFGS, L2 penalty, class weights) on the two posts' text features
``u, v`` (L2-normalised) as ``[u, v, |u - v|, u * v, cos(u, v)]``. Text only:
it says what the text encoder alone gives a plain classifier.

Example::

    probe = linear_probe_cv(tables.text, first.text, second.text, labels, assignment)
    probe.macro_f1
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from worker.model.types import FloatArray
from worker.names import ENTAILMENT_LABELS
from worker.training.encode import IntArray
from worker.training.fit import class_weights, one_thread
from worker.training.metrics import Report, classification_report

__all__ = ["linear_probe_cv", "pair_features"]

#: Inverse regularisation strength; the best of 0.1 / 1 / 10 on the entailment training CSV.
_C = 0.1


def pair_features(text: FloatArray, rows_a: IntArray, rows_b: IntArray) -> torch.Tensor:
    """``[u, v, |u-v|, u*v, cos]`` per pair; a missing text is a zero vector."""
    table = F.normalize(torch.from_numpy(text), dim=-1)
    table = torch.cat([table, table.new_zeros((1, table.shape[1]))])
    u, v = table[torch.from_numpy(rows_a)], table[torch.from_numpy(rows_b)]
    cos = (u * v).sum(dim=-1, keepdim=True)
    return torch.cat([u, v, (u - v).abs(), u * v, cos], dim=-1)


def linear_probe_cv(
    text: FloatArray, rows_a: IntArray, rows_b: IntArray, labels: IntArray, assignment: IntArray
) -> Report:
    """Out-of-fold predictions of the probe, folds given by ``assignment``."""
    with one_thread():
        return _probe(text, rows_a, rows_b, labels, assignment)


def _probe(
    text: FloatArray, rows_a: IntArray, rows_b: IntArray, labels: IntArray, assignment: IntArray
) -> Report:
    features = pair_features(text, rows_a, rows_b)
    targets = torch.from_numpy(labels)
    predicted = np.zeros(len(labels), dtype=np.int64)
    for fold in np.unique(assignment):
        held_out = torch.from_numpy(assignment == fold)
        weights, bias = _fit_probe(features[~held_out], targets[~held_out])
        predicted[held_out.numpy()] = (features[held_out] @ weights.T + bias).argmax(dim=1).numpy()
    return classification_report(labels, predicted, ENTAILMENT_LABELS)


def _fit_probe(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    classes = len(ENTAILMENT_LABELS)
    weights = torch.zeros((classes, x.shape[1]), requires_grad=True)
    bias = torch.zeros(classes, requires_grad=True)
    class_w = class_weights(y, classes)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = F.cross_entropy(x @ weights.T + bias, y, weight=class_w)
        loss = loss + (weights**2).sum() / (2 * _C * len(y))
        torch.autograd.backward(loss)
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    return weights.detach(), bias.detach()
