"""``train category``: a category head on the shared encoders, with cross-validation.

The recipe is deliberately cheap: the worker's own text and/or image features,
computed once and cached like every training feature, standardised, next to TF-IDF
word n-grams of the text as a reader sees it (``normalise``: through
:func:`worker.text.normalise.normalise`, as the worker then reads it too; off: as
written), into one class-weighted logistic regression
(scikit-learn). Cross-validation refits everything per fold, TF-IDF vocabulary
included, and beside it the two usual baselines on the same folds: the encoder
features alone with logistic regression, and TF-IDF alone, class-weighted.

An image head (``inputs="image"`` or ``"text+image"``) reads the mean of a post's
image features, as the worker does; images come from local files or are fetched as
the worker fetches them, and a row left without a usable image has no say, as in a
verdict: it is left out of training and counted.

Example::

    record = train_category(model, config, rows, store, out=Path(".models/hate"))
    record.cv.macro_f1, record.cv.per_class["hate"].f1
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
from pydantic import BaseModel, ConfigDict
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from worker.errors import CheckpointError, ModelError
from worker.model.category_head import CategoryHeadConfig, Inputs, TfidfConfig
from worker.model.moderation import ModerationModel
from worker.model.types import FloatArray
from worker.text.normalise import NORMALISER_ID, normalise
from worker.training.data import ImageRef
from worker.training.encode import encode_image_table, encode_texts
from worker.training.images import load_images
from worker.training.metrics import Report, classification_report
from worker.training.store import FeatureStore

__all__ = [
    "CategoryData",
    "CategoryFeatures",
    "CategoryRecord",
    "CategoryTrainConfig",
    "FittedRecipe",
    "category_features",
    "cross_validate",
    "fit_read",
    "fit_recipe",
    "reading",
    "save_head",
    "train_category",
]


class CategoryTrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    inputs: Inputs = "text"
    categories: dict[str, str] = {}
    tfidf: bool = True
    encoder_features: bool = True
    ngram_max: int = 2
    min_df: int = 2
    c: float = 1.0
    cv_folds: int = 5
    seed: int = 0
    baselines: bool = True
    #: "f1" (each category's best F1) or "precision:P", chosen on out-of-fold scores
    threshold_target: str = "f1"
    #: TF-IDF reads the normalised text (worker.text.normalise), in training and in the worker
    normalise: bool = True


@dataclass(frozen=True)
class CategoryData:
    texts: list[str]
    labels: list[str]
    sha256: str | None = None  # of the CSV they were read from
    #: per row, its images (read with an image column; empty: the row has none)
    images: list[tuple[ImageRef, ...]] | None = None


@dataclass(frozen=True)
class CategoryFeatures:
    """The rows a head with these inputs can learn from, and their encoder features."""

    rows: list[int]  # indices into the data of the rows kept
    text: FloatArray | None  # [rows, text_hidden]
    images: list[list[FloatArray]] | None  # per kept row, its usable images' features
    left_out: dict[str, int]  # why rows were left out -> how many
    images_found: str | None = None  # what became of the images, in one line

    def dense(self) -> FloatArray | None:
        """Per row the text features, then the mean of its images' (as the worker's head reads them)."""
        parts = [self.text] if self.text is not None else []
        if self.images is not None:
            parts.append(np.stack([np.mean(np.stack(vectors), axis=0) for vectors in self.images]))
        return np.concatenate(parts, axis=1) if parts else None


def category_features(
    model: ModerationModel | None,
    data: CategoryData,
    inputs: Inputs,
    encoder_features: bool,
    store: FeatureStore,
) -> CategoryFeatures:
    """What a head reading ``inputs`` sees of ``data``: rows without the text or the image
    it needs are left out (the worker would not let that head score them)."""
    rows = list(range(len(data.texts)))
    left_out: dict[str, int] = {}
    if "text" in inputs and inputs != "text":  # a text-only head keeps every row, as it always has
        kept = [i for i in rows if data.texts[i].strip()]
        if len(kept) < len(rows):
            left_out["no text"] = len(rows) - len(kept)
        rows = kept
    vectors: dict[str, FloatArray] = {}
    found = None
    if "image" in inputs:
        if model is None or data.images is None:
            raise ModelError("an image head needs an image column (--image-column) and the image encoder")
        found = load_images((ref for refs in data.images for ref in refs), model.settings)
        table, by_content = encode_image_table(model, found, store)
        vectors = {key: table[by_content[image.content_sha256]] for key, image in found.images.items()}
        kept = [i for i in rows if any(ref.key in vectors for ref in data.images[i])]
        if len(kept) < len(rows):
            left_out["no usable image"] = len(rows) - len(kept)
        rows = kept
    text = None
    if model is not None and encoder_features and "text" in inputs:
        text = encode_texts(model, [data.texts[i] for i in rows], store)
    images = None
    if data.images is not None and "image" in inputs:
        images = [[vectors[ref.key] for ref in data.images[i] if ref.key in vectors] for i in rows]
    return CategoryFeatures(rows, text, images, left_out, found.summary() if found is not None else None)


class CategoryRecord(BaseModel):
    """What ``training.json`` of a category head says: its figures and their cost."""

    model_config = ConfigDict(frozen=True)

    name: str
    classes: list[str]
    examples: int
    cv: Report | None
    baselines: dict[str, Report]
    minutes: dict[str, float]
    # The recipe and the text encoder it ran on, so that ``evaluate --cv`` can re-run it
    # (absent in heads written before evaluate could).
    config: CategoryTrainConfig | None = None
    encoder: dict[str, str | None] = {}
    data_sha256: str | None = None
    #: rows of the CSV left out (an image head: rows without a usable image), by reason
    left_out: dict[str, int] = {}
    images_found: str | None = None
    #: thresholds and calibration chosen on the out-of-fold scores (worker.training.thresholds)
    decision: dict[str, Any] = {}
    #: NORMALISER_ID of what the TF-IDF read (None: the text as written)
    normaliser: str | None = None


@dataclass
class FittedRecipe:
    """One fitted recipe: scaler, vectorizer and linear model (any may be absent)."""

    scaler: StandardScaler | None
    tfidf: TfidfVectorizer | None
    model: LogisticRegression

    def design(self, dense: FloatArray | None, texts: Sequence[str]) -> sparse.csr_matrix:
        blocks = []
        if self.scaler is not None and dense is not None:
            blocks.append(sparse.csr_matrix(self.scaler.transform(dense)))
        if self.tfidf is not None:
            blocks.append(self.tfidf.transform(texts))
        return sparse.csr_matrix(sparse.hstack(blocks))


def reading(texts: Sequence[str], config: CategoryTrainConfig) -> list[str]:
    """The texts as the recipe's TF-IDF reads them (normalised, unless ``config`` says not)."""
    return [normalise(text).text for text in texts] if config.normalise else list(texts)


def fit_recipe(
    dense: FloatArray | None, texts: Sequence[str], y: np.ndarray, config: CategoryTrainConfig, balanced: bool
) -> FittedRecipe:
    """The recipe fitted on ``texts`` as sent: they are read here as its TF-IDF reads them
    (normalised unless ``config`` says not), as :func:`save_head` then records."""
    return fit_read(dense, reading(texts, config), y, config, balanced)


def fit_read(
    dense: FloatArray | None, texts: Sequence[str], y: np.ndarray, config: CategoryTrainConfig, balanced: bool
) -> FittedRecipe:
    """:func:`fit_recipe` on texts already read (:func:`reading`): cross-validation and
    training read them once for every fold."""
    scaler = StandardScaler().fit(dense) if dense is not None else None
    tfidf = None
    if config.tfidf:
        tfidf = TfidfVectorizer(ngram_range=(1, config.ngram_max), min_df=config.min_df, sublinear_tf=True)
        tfidf.fit(texts)
    fit = FittedRecipe(scaler, tfidf, LogisticRegression(C=config.c, max_iter=3000))
    fit.model.set_params(class_weight="balanced" if balanced else None)
    fit.model.fit(fit.design(dense, texts), y)
    return fit


def cross_validate(
    dense: FloatArray | None, texts: list[str], y: np.ndarray, config: CategoryTrainConfig, classes: list[str]
) -> tuple[Report, dict[str, Report], np.ndarray]:
    """The recipe in ``config.cv_folds``-fold cross-validation, and beside it the
    baselines on the same folds; ``texts`` already read (:func:`reading`); ``classes``
    names the rows of the reports. Also the recipe's out-of-fold probabilities
    (thresholds and calibration are chosen on them)."""
    folds = StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.seed)
    recipes = {"recipe": (dense, config, True)}
    if config.baselines and dense is not None:
        recipes["encoder features + logistic regression"] = (
            dense,
            config.model_copy(update={"tfidf": False}),
            False,
        )
    if config.baselines and config.tfidf:
        recipes["TF-IDF + class-weighted logistic regression"] = (None, config, True)
    predicted = {name: np.zeros_like(y) for name in recipes}
    out_of_fold = np.zeros((len(y), len(classes)), dtype=np.float64)
    for train, test in folds.split(texts, y):
        tr_texts, te_texts = [texts[i] for i in train], [texts[i] for i in test]
        for name, (features, cfg, balanced) in recipes.items():
            fit = fit_read(
                features[train] if features is not None else None, tr_texts, y[train], cfg, balanced
            )
            te = features[test] if features is not None else None
            design = fit.design(te, te_texts)
            predicted[name][test] = fit.model.predict(design)
            if name == "recipe":
                out_of_fold[test] = fit.model.predict_proba(design)
    reports = {name: classification_report(y, pred, classes) for name, pred in predicted.items()}
    return reports.pop("recipe"), reports, out_of_fold


def train_category(
    model: ModerationModel | None,
    config: CategoryTrainConfig,
    data: CategoryData,
    store: FeatureStore,
    out: Path,
    encoder: dict[str, str | None] | None = None,
) -> CategoryRecord:
    """Cross-validate (unless ``cv_folds`` is 0), fit on everything, write ``out``.
    ``model`` encodes the texts; TF-IDF alone (``encoder_features=False``) needs none;
    ``encoder``: how the text encoder was chosen (recorded for ``evaluate --cv``)."""
    started = time.monotonic()
    _check(config, model)
    features = category_features(model, data, config.inputs, config.encoder_features, store)
    texts = reading([data.texts[i] for i in features.rows], config)
    labels = [data.labels[i] for i in features.rows]
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ModelError(f"fewer than two classes are left to learn from ({features.left_out} rows left out)")
    y = np.asarray([classes.index(label) for label in labels], dtype=np.int64)
    dense = features.dense()
    encoded = time.monotonic()
    cv: Report | None = None
    baselines: dict[str, Report] = {}
    decision: dict[str, Any] = {}
    temperature = 1.0
    if config.cv_folds > 1:
        shown = [config.categories.get(c) or c for c in classes]  # "hate" rather than "0"
        cv, baselines, out_of_fold = cross_validate(dense, texts, y, config, shown)
        from worker.training.thresholds import decide

        categories = {c: (config.categories.get(c, "") if config.categories else c) for c in classes}
        chosen = decide(
            y,
            out_of_fold,
            tuple(classes),
            categories,
            target=config.threshold_target,
            out=out,
            name=config.name,
            scores_from="out-of-fold",
        )
        decision, temperature = chosen.record | {"lines": chosen.lines}, float(chosen.record["temperature"])
    validated = time.monotonic()
    fit = fit_read(dense, texts, y, config, balanced=True)
    feature_ids = {}
    if model is not None and features.text is not None:
        feature_ids["text"] = model.encoder_ids["text"]
    if model is not None and features.images is not None:
        feature_ids["image"] = model.encoder_ids["image"]
    save_head(out, config, classes, fit, feature_ids, temperature)
    done = time.monotonic()
    minutes = {
        "encode": (encoded - started) / 60,
        "cross_validation": (validated - encoded) / 60,
        "fit": (done - validated) / 60,
        "total": (done - started) / 60,
    }
    record = CategoryRecord(
        name=config.name,
        classes=classes,
        examples=len(y),
        cv=cv,
        baselines=baselines,
        minutes={k: round(v, 2) for k, v in minutes.items()},
        config=config,
        encoder=encoder or {},
        data_sha256=data.sha256,
        left_out=features.left_out,
        images_found=features.images_found,
        decision=decision,
        normaliser=NORMALISER_ID if config.tfidf and config.normalise else None,
    )
    (out / "training.json").write_text(record.model_dump_json(indent=2), encoding="utf-8")
    return record


def _check(config: CategoryTrainConfig, model: ModerationModel | None) -> None:
    if not (config.encoder_features or config.tfidf):
        raise ModelError("a category head needs encoder features, TF-IDF, or both")
    if config.encoder_features and model is None:
        raise ModelError("encoder features need the model whose encoders the worker runs")
    if config.tfidf and "text" not in config.inputs:
        raise ModelError(f"TF-IDF reads text, and a head on {config.inputs!r} has none: --no-tfidf")
    if "image" in config.inputs and not config.encoder_features:
        raise ModelError(f"a head on {config.inputs!r} reads image features: --encoder-features")


def save_head(
    out: Path,
    config: CategoryTrainConfig,
    classes: list[str],
    fit: FittedRecipe,
    feature_ids: dict[str, str],
    temperature: float = 1.0,
) -> None:
    weight = np.asarray(fit.model.coef_, dtype=np.float32)
    bias = np.asarray(fit.model.intercept_, dtype=np.float32)
    if len(classes) == 2:  # sklearn keeps one row for two classes: softmax([-z/2, z/2]) = sigmoid(z)
        weight, bias = np.concatenate([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])
    tensors = {"weight": weight, "bias": bias}
    if fit.scaler is not None:
        tensors["mean"] = np.asarray(fit.scaler.mean_, dtype=np.float32)
        tensors["scale"] = np.asarray(fit.scaler.scale_, dtype=np.float32)
    tfidf = None
    if fit.tfidf is not None:
        tensors["idf"] = np.asarray(fit.tfidf.idf_, dtype=np.float32)
        vocabulary = {term: int(i) for term, i in fit.tfidf.vocabulary_.items()}
        tfidf = TfidfConfig(ngram_range=(1, config.ngram_max), vocabulary=vocabulary)
    head = CategoryHeadConfig(
        name=config.name,
        inputs=config.inputs,
        classes=tuple(classes),
        categories=config.categories or {c: c for c in classes},
        feature_ids=feature_ids,
        tfidf=tfidf,
        temperature=temperature,
        normaliser=NORMALISER_ID if tfidf is not None and config.normalise else None,
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
        # coef_ can be a strided view: safetensors writes raw buffers, so make each contiguous
        contiguous = {key: np.ascontiguousarray(value) for key, value in tensors.items()}
        safetensors.numpy.save_file(contiguous, str(out / "category.safetensors"))
        (out / "category.json").write_text(json.dumps(head.model_dump(mode="json")), encoding="utf-8")
    except OSError as exc:
        raise CheckpointError(f"cannot write category head {out}: {exc}") from exc
