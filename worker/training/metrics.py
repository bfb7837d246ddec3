"""Classification metrics for imbalanced classes: pure numpy, no torch.

Accuracy alone says little here (always answering NoEntailment scores about 84%
on the entailment data), so every report carries macro-F1, per-class precision
and recall, the confusion matrix, and the same figures for the majority-class
baseline.

Example::

    report = classification_report(y_true, y_pred, labels=("Contradictory", "Implies", "NoEntailment"))
    report.macro_f1, report.per_class["Implies"].recall
    print(confusion_text(report))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

__all__ = ["ClassMetrics", "Report", "classification_report", "confusion_text", "majority_baseline"]


class ClassMetrics(BaseModel):
    model_config = ConfigDict(frozen=True)

    precision: float
    recall: float
    f1: float
    support: int


class Report(BaseModel):
    """Scores of predictions against labels.

    ``confusion[i][j]`` counts examples of true class ``labels[i]`` predicted ``labels[j]``.
    """

    model_config = ConfigDict(frozen=True)

    labels: list[str]
    examples: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassMetrics]
    confusion: list[list[int]]


def classification_report(y_true: npt.ArrayLike, y_pred: npt.ArrayLike, labels: Sequence[str]) -> Report:
    """Metrics of ``y_pred`` against ``y_true`` (both class indices into ``labels``)."""
    true = np.asarray(y_true, dtype=np.int64)
    pred = np.asarray(y_pred, dtype=np.int64)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (true, pred), 1)
    per_class = {}
    for i, label in enumerate(labels):
        tp = int(confusion[i, i])
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        # F1 = 2TP / (2TP + FP + FN), 0 when the class is never right.
        f1 = 2 * tp / (predicted + actual) if tp else 0.0
        per_class[label] = ClassMetrics(
            precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4), support=actual
        )
    return Report(
        labels=list(labels),
        examples=len(true),
        accuracy=round(float((true == pred).mean()) if len(true) else 0.0, 4),
        macro_f1=round(float(np.mean([m.f1 for m in per_class.values()])), 4),
        per_class=per_class,
        confusion=confusion.tolist(),
    )


def majority_baseline(y_true: npt.ArrayLike, labels: Sequence[str], majority: int | None = None) -> Report:
    """The report of always answering ``majority`` (default: the most frequent true class)."""
    true = np.asarray(y_true, dtype=np.int64)
    if majority is None:
        majority = int(np.bincount(true, minlength=len(labels)).argmax())
    return classification_report(true, np.full_like(true, majority), labels)


def confusion_text(report: Report) -> str:
    """The confusion matrix as an aligned text table (rows: true, columns: predicted)."""
    width = max(len(label) for label in report.labels) + 2
    header = "true \\ predicted".ljust(width + 4) + "".join(label.rjust(width) for label in report.labels)
    lines = [header]
    for label, row in zip(report.labels, report.confusion, strict=True):
        lines.append(label.ljust(width + 4) + "".join(str(n).rjust(width) for n in row))
    return "\n".join(lines)
