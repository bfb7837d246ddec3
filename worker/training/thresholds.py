"""Thresholds that say what they cost, and scores that mean what they say.

From held-aside scores (validation or out-of-fold: never the rows a figure is reported on),
for each category:

- **calibration**: one temperature for the model's logits (Guo et al. 2017), fitted by
  log-loss; the expected calibration error (ECE, 15 equal-width bins) before and after;
- **threshold** for a stated target: the best F1, or the lowest threshold that reaches a
  named precision (``precision:0.9``); its precision, recall and false-flag rate (the share
  of the category's negatives it flags), with the data's base rate beside them, since
  precision moves with the share of positives a feed has;
- the same figures on the test rows, when given, at the threshold chosen without them;
- a precision-recall curve and a reliability diagram (PNG, with the ``plots`` extra);
- a ``MODERATION_POLICY`` entry to paste.

Example::

    decision = decide(y_val, val_probs, ("0", "1"), {"1": "bias", "0": ""}, target="f1")
    print("\\n".join(decision.lines))
    decision.record["temperature"]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from worker.errors import ModelError

__all__ = [
    "Decision",
    "OperatingPoint",
    "choose_threshold",
    "decide",
    "expected_calibration_error",
    "fit_temperature",
]

_BINS = 15


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def _logits(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(probs.astype(np.float64), 1e-12, 1.0))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    return _softmax(_logits(probs) / temperature)


def fit_temperature(y: np.ndarray, probs: np.ndarray) -> float:
    """The temperature minimising the log-loss of softmax(logits / T) on these rows."""
    logits = _logits(probs)

    def nll(log_t: float) -> float:
        p = _softmax(logits / np.exp(log_t))
        return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))

    found = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(found.x))


def expected_calibration_error(positive: np.ndarray, scores: np.ndarray, bins: int = _BINS) -> float:
    """Weighted mean |observed rate - mean score| over equal-width score bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.mean() * abs(positive[inside].mean() - scores[inside].mean())
    return float(total)


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    precision: float
    recall: float
    false_flag_rate: float
    base_rate: float
    f1: float

    @classmethod
    def at(cls, positive: np.ndarray, scores: np.ndarray, threshold: float) -> OperatingPoint:
        flagged = scores >= threshold
        tp = float(np.sum(flagged & positive))
        fp = float(np.sum(flagged & ~positive))
        pos, neg = float(positive.sum()), float((~positive).sum())
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / pos if pos else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(threshold, precision, recall, fp / neg if neg else 0.0, pos / len(positive), f1)

    def text(self) -> str:
        return (
            f"threshold {self.threshold:.3f}: precision {self.precision:.3f}, recall {self.recall:.3f}, "
            f"false flags {self.false_flag_rate:.2%} of negatives "
            f"(base rate {self.base_rate:.1%}, F1 {self.f1:.3f})"
        )


def choose_threshold(positive: np.ndarray, scores: np.ndarray, target: str) -> OperatingPoint:
    """``"f1"``: the threshold with the best F1; ``"precision:P"``: the lowest threshold whose
    precision reaches P (the highest-precision one when none does)."""
    candidates = np.unique(scores)
    points = [OperatingPoint.at(positive, scores, float(t)) for t in candidates]
    if target == "f1":
        return max(points, key=lambda p: (p.f1, p.threshold))
    if target.startswith("precision:"):
        try:
            wanted = float(target.split(":", 1)[1])
        except ValueError as exc:
            raise ModelError(f"threshold target {target!r}: write precision:0.9") from exc
        reaching = [p for p in points if p.precision >= wanted and p.recall > 0]
        if reaching:
            return min(reaching, key=lambda p: p.threshold)
        return max(points, key=lambda p: (p.precision, p.recall))
    raise ModelError(f"threshold target {target!r}: 'f1' or 'precision:P'")


@dataclass(frozen=True)
class Decision:
    record: dict[str, Any]  # saved with the model
    lines: list[str]  # printed
    policy: dict[str, dict[str, float]]


def decide(
    y: np.ndarray,
    probs: np.ndarray,
    classes: tuple[str, ...],
    categories: dict[str, str],
    *,
    target: str = "f1",
    test: tuple[np.ndarray, np.ndarray] | None = None,
    out: Path | None = None,
    name: str = "model",
    scores_from: str = "validation",
) -> Decision:
    """Calibrate on (``y``, ``probs``), choose each category's threshold there, report both
    there and on ``test``; draw the plots into ``out`` when given."""
    temperature = fit_temperature(y, probs)
    calibrated = apply_temperature(probs, temperature)
    test_cal = apply_temperature(test[1], temperature) if test is not None else None
    lines = [f"thresholds (target {target}), chosen on the {scores_from} scores after calibration:"]
    record: dict[str, Any] = {
        "target": target,
        "temperature": temperature,
        "scores_from": scores_from,
        "categories": {},
    }
    policy: dict[str, dict[str, float]] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
    for index, cls in enumerate(classes):
        category = categories.get(cls, "")
        if not category:
            continue
        positive = y == index
        before = expected_calibration_error(positive, probs[:, index])
        after = expected_calibration_error(positive, calibrated[:, index])
        point = choose_threshold(positive, calibrated[:, index], target)
        entry: dict[str, Any] = {
            "class": cls,
            "ece_before": before,
            "ece_after": after,
            "chosen": point.__dict__,
        }
        lines.append(f"  {category}: {point.text()}")
        lines.append(
            f"  {' ' * len(category)}  ECE {before:.3f} before temperature {temperature:.2f}, "
            f"{after:.3f} after"
        )
        if test is not None and test_cal is not None:
            y_test = test[0] == index
            on_test = OperatingPoint.at(y_test, test_cal[:, index], point.threshold)
            entry["test"] = on_test.__dict__ | {
                "ece_before": expected_calibration_error(y_test, test[1][:, index]),
                "ece_after": expected_calibration_error(y_test, test_cal[:, index]),
            }
            lines.append(f"  {' ' * len(category)}  on the test rows: {on_test.text()}")
            curves[category] = (y_test, test_cal[:, index], positive, calibrated[:, index])
        else:
            curves[category] = (positive, calibrated[:, index], positive, calibrated[:, index])
        record["categories"][category] = entry
        policy[category] = {"threshold": round(point.threshold, 3)}
    lines.append(f"MODERATION_POLICY entry (scores calibrated by the served model): '{json.dumps(policy)}'")
    if out is not None:
        drawn = draw(curves, out, name)
        if drawn:
            lines.append("plots: " + ", ".join(str(p) for p in drawn))
            record["plots"] = [p.name for p in drawn]
    return Decision(record, lines, policy)


def draw(
    curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], out: Path, name: str
) -> list[Path]:
    """``<name>-pr.png`` and ``<name>-reliability.png``; nothing without matplotlib."""
    from worker.training.plot import matplotlib_home

    matplotlib_home()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from sklearn.metrics import precision_recall_curve

    out.mkdir(parents=True, exist_ok=True)
    pr_fig, pr = plt.subplots(figsize=(5, 4))
    rel_fig, rel = plt.subplots(figsize=(5, 4))
    rel.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    for category, (positive, scores, _, _) in curves.items():
        precision, recall, _ = precision_recall_curve(positive, scores)
        pr.plot(recall, precision, label=f"{category} (base rate {positive.mean():.1%})")
        edges = np.linspace(0, 1, _BINS + 1)
        which = np.clip(np.digitize(scores, edges[1:-1]), 0, _BINS - 1)
        xs = [scores[which == b].mean() for b in range(_BINS) if (which == b).any()]
        ys = [positive[which == b].mean() for b in range(_BINS) if (which == b).any()]
        rel.plot(xs, ys, "o-", label=category)
    pr.set(
        xlabel="recall",
        ylabel="precision",
        title=f"{name}: precision-recall (test rows)",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    rel.set(
        xlabel="mean calibrated score",
        ylabel="observed share positive",
        title=f"{name}: reliability (test rows)",
    )
    for axis in (pr, rel):
        axis.legend(loc="lower left", fontsize=8)
    paths = [out / f"{name}-pr.png", out / f"{name}-reliability.png"]
    pr_fig.tight_layout()
    pr_fig.savefig(paths[0], dpi=100)
    rel_fig.tight_layout()
    rel_fig.savefig(paths[1], dpi=100)
    plt.close(pr_fig)
    plt.close(rel_fig)
    return paths
