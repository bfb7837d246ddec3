"""``evaluate``: a heads checkpoint scored on a labelled CSV through the live path.

The checkpoint is loaded by :meth:`ModerationModel.load` as the worker loads it
(refusing heads trained on other encoders), and every example is scored with
:meth:`ModerationModel.score`, the worker's call: the entailment label is the
most probable class, as in a verdict; a post is biased when its score reaches
``settings.bias_threshold``. Reported: macro-F1, per-class precision and
recall, the confusion matrix (text and PNG), all next to the majority-class
baseline.

Example::

    result = evaluate(settings, Path(".models/heads-minilm"), Path("val_df.csv"), store)
    result.metrics.macro_f1, result.majority_baseline.macro_f1
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from worker.config.settings import Settings
from worker.messages import ModelIdentity
from worker.model.moderation import ModerationModel
from worker.model.types import PostFeatures, PostScores, ReferenceFeatures
from worker.names import ENTAILMENT_LABELS
from worker.training.data import (
    BIAS_LABELS,
    DatasetError,
    file_sha256,
    read_bias_csv,
    read_entailment_csv,
)
from worker.training.dataset import BiasSplit, Prepared, Split, image_refs, prepare
from worker.training.encode import IntArray, PostRows
from worker.training.images import load_images
from worker.training.metrics import Report, classification_report, confusion_text, majority_baseline
from worker.training.record import DataFile, TaskRecord
from worker.training.store import FeatureStore

__all__ = ["DataRole", "Evaluation", "detect_task", "evaluate"]

_BATCH = 64
Task = Literal["entailment", "bias"]
DataRole = Literal["unseen", "training", "validation (early stopping)"]


class Evaluation(BaseModel):
    """What ``evaluate`` writes to ``--out`` (as JSON)."""

    model_config = ConfigDict(frozen=True)

    format: Literal["moderation-evaluation/1"] = "moderation-evaluation/1"
    task: Task
    data: DataFile
    #: Rows left out: a post with neither text nor a usable image (the worker would not score it).
    unscored: int = 0
    #: "unseen", or what training used this file for (then its figures flatter the heads).
    data_role: DataRole = "unseen"
    heads: str
    model: ModelIdentity
    images: str
    decision: str
    metrics: Report
    majority_baseline: Report
    confusion_text: str
    confusion_png: str | None = None
    #: The checkpoint's recipe re-run in k-fold cross-validation on this CSV (``--cv``).
    cross_validation: TaskRecord | None = None
    seconds: float = 0.0


def detect_task(path: Path) -> Task:
    """``entailment`` for the multimodal-entailment columns, ``bias`` for ``text,image_url,label``."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    if {"text_1", "text_2", "label"} <= set(header):
        return "entailment"
    if {"text", "image_url", "label"} <= set(header):
        return "bias"
    raise DatasetError(f"{path}: columns {header} are neither the entailment nor the bias format")


def evaluate(
    settings: Settings, heads: Path, data: Path, store: FeatureStore, *, fetch_images: bool = True
) -> Evaluation:
    """Score ``data`` with the checkpoint in ``heads``; see the module docstring."""
    started = time.monotonic()
    model = ModerationModel.load(settings.model_copy(update={"heads": heads, "clip_model": ""}))
    task = detect_task(data)
    ent: Split | None = (read_entailment_csv(data), []) if task == "entailment" else None
    bia: BiasSplit | None = (read_bias_csv(data), []) if task == "bias" else None
    found = load_images(image_refs(ent, bia), settings, fetch=fetch_images)
    prepared = prepare(model, store, found, ent, bia)
    if task == "entailment":
        labels, predicted, classes = _entailment(model, prepared)
        decision = "most probable class, as in a verdict"
    else:
        labels, predicted, classes = _bias(model, prepared, settings.bias_threshold)
        decision = f"biased when the bias score >= {settings.bias_threshold} (MODERATION_BIAS_THRESHOLD)"
    metrics = classification_report(labels, predicted, classes)
    rows = len(ent[0]) if ent else len(bia[0]) if bia else 0
    return Evaluation(
        task=task,
        data=DataFile(path=str(data), sha256=file_sha256(data), rows=rows),
        unscored=rows - len(labels),
        heads=str(heads),
        model=model.identity,
        images=found.summary(),
        decision=decision,
        metrics=metrics,
        majority_baseline=majority_baseline(labels, classes),
        confusion_text=confusion_text(metrics),
        seconds=round(time.monotonic() - started, 2),
    )


def _entailment(model: ModerationModel, prepared: Prepared) -> tuple[IntArray, IntArray, tuple[str, ...]]:
    """Labels and predictions of the pairs whose two posts kept text or an image."""
    data = prepared.entailment
    assert data is not None
    posts, kept = [], []
    for n in range(len(data.labels)):
        first, second = _features(prepared, data.first, n), _features(prepared, data.second, n)
        if _empty(first) or _empty(second):
            continue  # only images, none usable: the worker would not score it either
        raw_first, raw_second = data.raw_texts[n]
        reference = ReferenceFeatures(text=first.text, images=first.images, raw_text=raw_first)
        posts.append(
            PostFeatures(text=second.text, images=second.images, reference=reference, raw_text=raw_second)
        )
        kept.append(n)
    predicted = [int(np.argmax(s.entailment or (0.0, 0.0, 1.0))) for s in _score(model, posts)]
    return data.labels[kept], np.asarray(predicted, dtype=np.int64), ENTAILMENT_LABELS


def _bias(
    model: ModerationModel, prepared: Prepared, threshold: float
) -> tuple[IntArray, IntArray, tuple[str, ...]]:
    data = prepared.bias
    assert data is not None
    kept = [n for n in range(len(data.labels)) if not _empty(_features(prepared, data.posts, n))]
    scores = _score(model, [_features(prepared, data.posts, n) for n in kept])
    predicted = np.asarray([int(s.bias_score >= threshold) for s in scores], dtype=np.int64)
    return data.labels[kept], predicted, BIAS_LABELS


def _score(model: ModerationModel, posts: list[PostFeatures]) -> list[PostScores]:
    return [s for start in range(0, len(posts), _BATCH) for s in model.score(posts[start : start + _BATCH])]


def _empty(post: PostFeatures) -> bool:
    return post.text is None and not post.images


def _features(prepared: Prepared, rows: PostRows, n: int) -> PostFeatures:
    text_row, image_row = int(rows.text[n]), int(rows.image[n])
    return PostFeatures(
        text=prepared.tables.text[text_row] if text_row >= 0 else None,
        images=[prepared.tables.image[image_row]] if image_row >= 0 else [],
    )
