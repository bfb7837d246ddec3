"""Metrics for imbalanced classes, the majority baseline, and the confusion matrix PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from worker.names import ENTAILMENT_LABELS
from worker.training.metrics import classification_report, confusion_text, majority_baseline
from worker.training.plot import confusion_figure, save_confusion_png


def test_report_by_hand() -> None:
    # true:      C C I I N N N N
    # predicted: C I I N N N N C
    true = [0, 0, 1, 1, 2, 2, 2, 2]
    pred = [0, 1, 1, 2, 2, 2, 2, 0]
    report = classification_report(true, pred, ENTAILMENT_LABELS)
    assert report.confusion == [[1, 1, 0], [0, 1, 1], [1, 0, 3]]
    c, i, n = (report.per_class[k] for k in ENTAILMENT_LABELS)
    assert (c.precision, c.recall, c.f1) == (0.5, 0.5, 0.5)
    assert (i.precision, i.recall, i.f1) == (0.5, 0.5, 0.5)
    assert (n.precision, n.recall, n.f1) == (0.75, 0.75, 0.75)
    assert report.macro_f1 == pytest.approx((0.5 + 0.5 + 0.75) / 3, abs=1e-4)
    assert report.accuracy == 0.625 and n.support == 4


def test_majority_baseline_on_the_entailment_class_balance() -> None:
    # train_df.csv: 1011 NoEntailment, 93 Implies, 93 Contradictory.
    labels = np.array([0] * 93 + [1] * 93 + [2] * 1011)
    baseline = majority_baseline(labels, ENTAILMENT_LABELS)
    assert baseline.accuracy == pytest.approx(0.8446, abs=1e-4)
    assert baseline.macro_f1 == pytest.approx(0.3053, abs=1e-4)  # the 0.305
    assert baseline.per_class["Implies"].recall == 0.0


def test_confusion_text_and_png(tmp_path: Path) -> None:
    report = classification_report([0, 1, 2, 2], [0, 2, 2, 2], ENTAILMENT_LABELS)
    text = confusion_text(report).splitlines()
    assert text[0].split()[-3:] == list(ENTAILMENT_LABELS)
    assert text[2].split() == ["Implies", "0", "0", "1"]
    figure = confusion_figure(report, title="test")
    cells = [t.get_text() for t in figure.axes[0].texts]
    # Row by row: Contradictory found once, Implies (0/1) missed, NoEntailment 2/2.
    assert cells[0] == "1\n100%" and cells[4] == "0\n0%" and cells[8] == "2\n100%"
    assert "macro-F1" in figure.get_suptitle()
    path = save_confusion_png(report, tmp_path / "deep" / "cm.png", title="test")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (640, 560)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16) or []
    # A dark shade for the full diagonal cells, white elsewhere: a drawn matrix, not a blank page.
    assert any(sum(rgb) < 200 for _, rgb in colours) and len(colours) > 10
