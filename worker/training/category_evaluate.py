"""``evaluate`` for a category head: scored on a labelled CSV as the worker scores posts.

The head is loaded by :meth:`CategoryHead.load` (refusing a head trained on other text
features) and scores each text from the worker's own text features and the text as
written, as in a verdict; the answer is the most probable class. Reported: macro-F1,
per-class F1, the confusion matrix, beside the majority-class baseline; with ``cv``,
the recipe recorded in ``training.json`` re-run in K-fold cross-validation on the CSV,
with the two baselines on the same folds.

Example::

    result = evaluate_category(Path(".models/hate"), Path("train.csv"), ("tweet", "class"), store, cv=5)
    result.metrics.macro_f1, result.cross_validation.recipe.per_class["hate"].f1
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from worker.errors import CheckpointError, ModelError
from worker.model.category_head import CategoryHead, CategoryHeadConfig
from worker.model.types import PostFeatures
from worker.training.category import CategoryRecord, category_features, cross_validate, reading
from worker.training.category_cli import category_model, read_category_csv
from worker.training.category_report import figures
from worker.training.metrics import Report, classification_report, confusion_text, majority_baseline
from worker.training.store import FeatureStore

__all__ = [
    "CATEGORY_FILE",
    "CategoryCrossValidation",
    "CategoryEvaluation",
    "category_evaluation_lines",
    "evaluate_category",
]

CATEGORY_FILE = "category.json"
_CHUNK = 4096  # rows of the design matrix built at once


class CategoryCrossValidation(BaseModel):
    model_config = ConfigDict(frozen=True)

    folds: int
    recipe: Report
    baselines: dict[str, Report]
    minutes: float


class CategoryEvaluation(BaseModel):
    """What ``evaluate`` writes to ``--out`` for a category head."""

    model_config = ConfigDict(frozen=True)

    head: str
    data: str
    data_sha256: str
    rows: int  # scored; those left out (e.g. no usable image) are counted by reason
    left_out: dict[str, int] = {}
    images_found: str | None = None
    trained_on_this_csv: bool
    metrics: Report
    majority_baseline: Report
    cross_validation: CategoryCrossValidation | None = None
    minutes: float
    confusion_png: str | None = None
    #: per category, at the threshold chosen at training: precision, recall, false-flag
    #: rate, base rate, F1 and the ECE of its (calibrated) scores on this CSV
    thresholds: dict[str, dict[str, float]] = {}


def _record(folder: Path) -> CategoryRecord | None:
    path = folder / "training.json"
    if not path.is_file():
        return None
    try:
        return CategoryRecord.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from exc


def evaluate_category(
    folder: Path,
    data: Path,
    columns: tuple[str, str, str | None],
    store: FeatureStore,
    *,
    cv: int = 0,
    text_encoder: str | None = None,
    image_encoder: str | None = None,
) -> CategoryEvaluation:
    """Score the head in ``folder`` on ``data`` (``columns``: text, label and image column)."""
    started = time.monotonic()
    try:
        config = CategoryHeadConfig.model_validate_json((folder / CATEGORY_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read category head {folder}: {exc}") from exc
    if "image" in config.inputs and not columns[2]:
        raise ModelError(
            f"head {config.name!r} reads images ({config.inputs}): name them with --image-column"
        )
    record = _record(folder)
    labelled = read_category_csv(
        data, columns[0], columns[1], columns[2] if "image" in config.inputs else None
    )
    unknown = sorted(set(labelled.labels) - set(config.classes))
    if unknown:
        known = list(config.classes)
        raise ModelError(f"{data}: labels {unknown} are not classes of {config.name!r} {known}")
    encoder = record.encoder if record else {}
    model = None
    if config.feature_ids:
        model = category_model(
            text_encoder or encoder.get("text_encoder"),
            image_encoder or encoder.get("image_encoder"),
            encoder.get("pooling") or "auto",
            encoder.get("links") or "strip",
        )
    features = category_features(model, labelled, config.inputs, "text" in config.feature_ids, store)
    head = CategoryHead.load(folder, model.encoder_ids if model is not None else {})
    texts = [labelled.texts[i] for i in features.rows]
    classes = list(config.classes)
    y = np.asarray([classes.index(labelled.labels[i]) for i in features.rows], dtype=np.int64)
    posts = [
        PostFeatures(
            text=features.text[k] if features.text is not None else None,
            images=features.images[k] if features.images is not None else [],
            raw_text=texts[k],
        )
        for k in range(len(texts))
    ]
    probabilities = np.concatenate(
        [head.probabilities(posts[start : start + _CHUNK]) for start in range(0, len(posts), _CHUNK)]
    )
    predicted = probabilities.argmax(axis=1)
    thresholds = _operating_points(record, classes, y, probabilities)
    shown = [config.categories.get(c) or c for c in classes]  # "hate" rather than "0"
    crossed = None
    if cv > 1:
        if record is None or record.config is None:
            raise ModelError(f"--cv re-runs the recipe in {folder}/training.json, which does not record it")
        cv_started = time.monotonic()
        recipe_config = record.config.model_copy(update={"cv_folds": cv})
        read = reading(texts, recipe_config)
        recipe, baselines, _ = cross_validate(features.dense(), read, y, recipe_config, shown)
        cv_minutes = round((time.monotonic() - cv_started) / 60, 2)
        crossed = CategoryCrossValidation(folds=cv, recipe=recipe, baselines=baselines, minutes=cv_minutes)
    return CategoryEvaluation(
        head=config.name,
        data=str(data),
        data_sha256=labelled.sha256 or "",
        rows=len(texts),
        left_out=features.left_out,
        images_found=features.images_found,
        trained_on_this_csv=record is not None and record.data_sha256 == labelled.sha256,
        metrics=classification_report(y, predicted, shown),
        majority_baseline=majority_baseline(y, shown),
        cross_validation=crossed,
        minutes=round((time.monotonic() - started) / 60, 2),
        thresholds=thresholds,
    )


def _operating_points(
    record: CategoryRecord | None, classes: list[str], y: np.ndarray, probabilities: np.ndarray
) -> dict[str, dict[str, float]]:
    """What each category's chosen threshold (training.json) costs on these rows."""
    from worker.training.thresholds import OperatingPoint, expected_calibration_error

    found: dict[str, dict[str, float]] = {}
    chosen = record.decision.get("categories", {}) if record is not None else {}
    for category, entry in chosen.items():
        index = classes.index(entry["class"])
        positive = y == index
        point = OperatingPoint.at(positive, probabilities[:, index], float(entry["chosen"]["threshold"]))
        found[category] = point.__dict__ | {
            "ece": expected_calibration_error(positive, probabilities[:, index])
        }
    return found


def category_evaluation_lines(result: CategoryEvaluation) -> list[str]:
    lines = [
        f"category head {result.head!r} on {result.data} ({result.rows} rows)",
        f"result: {figures(result.metrics)}",
    ]
    if result.images_found is not None:
        lines.append(f"images: {result.images_found}")
    if result.left_out:
        why = ", ".join(f"{n} {reason}" for reason, n in result.left_out.items())
        lines.append(f"rows left out ({why}): the worker gives this head no say on such posts")
    if result.trained_on_this_csv:
        lines.append(
            "  WARNING: the head was trained on this CSV, so this figure says how well it fits it; "
            "the cross-validated figure (--cv) is the one that measures learning"
        )
    lines += [f"baseline majority class: {figures(result.majority_baseline)}", confusion_text(result.metrics)]
    for category, point in result.thresholds.items():
        lines.append(
            f"  {category} at its chosen threshold {point['threshold']:.3f}: "
            f"precision {point['precision']:.3f}, "
            f"recall {point['recall']:.3f}, false flags {point['false_flag_rate']:.2%} of negatives "
            f"(base rate {point['base_rate']:.1%}); ECE {point['ece']:.3f}"
        )
    crossed = result.cross_validation
    if crossed is not None:
        lines.append(f"--- the head's recipe in {crossed.folds}-fold cross-validation on this CSV ---")
        lines.append(f"recipe: {figures(crossed.recipe)}")
        lines.append(confusion_text(crossed.recipe))
        for name, report in crossed.baselines.items():
            lines.append(f"baseline, {name}, same folds: {figures(report)}")
        lines.append(f"cross-validation minutes: {crossed.minutes:.1f}")
    lines.append(f"minutes: {result.minutes:.1f}")
    return lines
