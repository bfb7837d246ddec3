"""A fine-tuned model scored on a labelled CSV as the worker scores it (same backend, same
normaliser, calibrated), with the thresholds chosen at training: what they cost there.

Example::

    lines = evaluate_fine_tuned(Path(".models/bias-minilm"), Path("held_out.csv"), "text", "label")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from worker.errors import ModelError
from worker.finetune.progress import Progress
from worker.finetune.run import split_figures
from worker.training.thresholds import OperatingPoint, expected_calibration_error

__all__ = ["evaluate_fine_tuned"]


def evaluate_fine_tuned(
    folder: Path,
    csv_path: Path,
    text_column: str,
    label_column: str,
    backend: str = "auto",
    out: Path | None = None,
) -> list[str]:
    """Macro-F1, each class's F1, and each category's precision / recall / false-flag rate
    at its chosen threshold, with the base rate and the ECE; ``out``: a JSON of it all."""
    from worker.model.classifiers.finetuned import FineTunedClassifier
    from worker.training.category_cli import read_category_csv

    classifier = FineTunedClassifier(folder, f"classifier:{folder.name}", backend=backend)
    config = classifier.config
    data = read_category_csv(csv_path, text_column, label_column)
    unknown = sorted(set(data.labels) - set(config.classes))
    if unknown:
        raise ModelError(f"{csv_path}: labels {unknown} are not the model's ({list(config.classes)})")
    y = np.array([config.classes.index(label) for label in data.labels], dtype=np.int64)
    order = np.argsort([len(t) for t in data.texts], kind="stable")
    probs = np.zeros((len(y), len(config.classes)), dtype=np.float32)
    bar = Progress(f"scoring {csv_path.name} ({classifier.backend})", total=len(y))
    for start in range(0, len(y), 32):
        rows = order[start : start + 32]
        probs[rows] = classifier.predict([data.texts[i] for i in rows])
        bar.advance(len(rows))
    bar.close()
    figures = split_figures(y, probs, config.classes)
    per_class = ", ".join(f"{c} F1 {v['f1']:.3f}" for c, v in figures["classes"].items())
    lines = [
        f"{folder.name} on {csv_path.name} ({len(y)} rows, {classifier.backend}, calibrated, temperature "
        f"{classifier.temperature:.2f}): macro-F1 {figures['macro_f1']:.3f} ({per_class})",
    ]
    found: dict[str, Any] = {"figures": figures, "categories": {}}
    for category, entry in config.decision.get("categories", {}).items():
        index = config.classes.index(entry["class"])
        positive = y == index
        point = OperatingPoint.at(positive, probs[:, index], float(entry["chosen"]["threshold"]))
        ece = expected_calibration_error(positive, probs[:, index])
        lines.append(f"  {category}: {point.text()}; ECE {ece:.3f}")
        found["categories"][category] = point.__dict__ | {"ece": ece}
    if out is not None:
        out.write_text(json.dumps(found, indent=2) + "\n")
    return lines
