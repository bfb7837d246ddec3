"""Thresholds for a stated target, with what they cost, and calibration that helps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from worker.training.thresholds import (
    OperatingPoint,
    apply_temperature,
    choose_threshold,
    decide,
    expected_calibration_error,
    fit_temperature,
)


def _overconfident(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes; the model's probabilities are sharper than the truth (logits x4)."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(np.int64)
    p1 = 1 / (1 + np.exp(-4 * true_logit))
    return y, np.stack([1 - p1, p1], axis=1)


def test_an_operating_point_counts_what_a_threshold_costs() -> None:
    positive = np.array([True, True, False, False, False, False, False, False, False, False])
    scores = np.array([0.9, 0.4, 0.8, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.3])
    point = OperatingPoint.at(positive, scores, 0.5)
    assert (point.precision, point.recall, point.base_rate) == (0.5, 0.5, 0.2)
    assert point.false_flag_rate == pytest.approx(1 / 8)


def test_a_named_precision_gives_the_lowest_threshold_that_reaches_it() -> None:
    positive = np.array([True, True, True, False, True, False, False])
    scores = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    assert choose_threshold(positive, scores, "precision:1.0").threshold == 0.8
    assert choose_threshold(positive, scores, "precision:0.8").threshold == 0.6
    assert choose_threshold(positive, scores, "f1").f1 >= OperatingPoint.at(positive, scores, 0.5).f1


def test_temperature_scaling_undoes_overconfidence() -> None:
    y, probs = _overconfident()
    temperature = fit_temperature(y, probs)
    assert 3 < temperature < 5  # the logits were sharpened 4x
    before = expected_calibration_error(y == 1, probs[:, 1])
    after = expected_calibration_error(y == 1, apply_temperature(probs, temperature)[:, 1])
    assert after < before / 2


def test_decide_reports_thresholds_calibration_plots_and_a_policy_entry(tmp_path: Path) -> None:
    y, probs = _overconfident()
    y_test, test_probs = _overconfident(seed=1)
    decision = decide(
        y, probs, ("0", "1"), {"0": "", "1": "bias"}, test=(y_test, test_probs), out=tmp_path, name="b"
    )
    entry = decision.record["categories"]["bias"]
    assert entry["ece_after"] < entry["ece_before"]
    assert 0 < entry["test"]["precision"] <= 1 and entry["test"]["base_rate"] == pytest.approx(y_test.mean())
    policy_line = next(line for line in decision.lines if line.startswith("MODERATION_POLICY"))
    pasted = json.loads(policy_line.split("'")[1])
    assert pasted == {"bias": {"threshold": round(entry["chosen"]["threshold"], 3)}}
    pytest.importorskip("matplotlib")
    for name in ("b-pr.png", "b-reliability.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
