"""The entailment head's lexical trees against scikit-learn's HistGradientBoostingClassifier.

Same rows, same folds, same class weights: the 15 overlap features of each training
pair (what the live worker computes, :func:`worker.model.lexical.lexical_row`), the
stratified folds of ``train``'s cross-validation, and the inverse-frequency weights of
``train``. Each fold fits our numpy booster and scikit-learn's, with the same recipe
(200 rounds, depth 3, learning rate 0.03, 32 bins, L2 1, 10 rows a leaf) and with
scikit-learn's defaults, then scores the held-out fold. Reported: pooled macro-F1 and
per-fold macro-F1 of each, fit time, and inference time per post (one post a call, as
the worker scores a pair, and eight a call). scikit-learn is needed only here::

    pip install scikit-learn
    python -m moderation_lab.bench.trees --out trees.json

Texts are encoded by all-MiniLM-L6-v2 (for the features' text cosine) through the
training code, with its feature cache in ``.models/cache``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["FITTERS", "class_weight", "compare_trees", "main", "ours"]

Rows = NDArray[np.float64]
Labels = NDArray[np.int64]
#: Fits on (rows, labels, class weights, seed); returns a predictor of labels.
Fitter = Callable[[Rows, Labels, Rows, int], Callable[[Rows], Labels]]
#: Our recipe (worker.training.boost.BoostConfig's defaults) in scikit-learn's words.
SAME_RECIPE: dict[str, Any] = {
    "max_iter": 200,
    "max_depth": 3,
    "learning_rate": 0.03,
    "min_samples_leaf": 10,
    "l2_regularization": 1.0,
    "max_bins": 32,
    "max_features": 0.8,
    "early_stopping": False,
}


def ours(x: Rows, y: Labels, weight: Rows, seed: int) -> Callable[[Rows], Labels]:
    """Our booster (:mod:`worker.training.boost`), scored through the module the worker runs."""
    import torch

    from worker.training.boost import BoostConfig, fit_trees

    module = fit_trees(x, y, weight, BoostConfig(), seed).to_module().eval()

    def predict(rows: Rows) -> Labels:
        with torch.no_grad():
            logits = module(torch.from_numpy(rows.astype(np.float32)))
        labels: Labels = logits.argmax(dim=1).numpy().astype(np.int64)
        return labels

    return predict


def _sklearn(params: dict[str, Any]) -> Fitter:
    def fit(x: Rows, y: Labels, weight: Rows, seed: int) -> Callable[[Rows], Labels]:
        # Installed for this measurement only (see the module's docstring), hence untyped here.
        from sklearn.ensemble import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            HistGradientBoostingClassifier,
        )

        model = HistGradientBoostingClassifier(**params, random_state=seed)
        model.fit(x, y, sample_weight=weight[y])

        def predict(rows: Rows) -> Labels:
            return np.asarray(model.predict(rows), dtype=np.int64)

        return predict

    return fit


FITTERS: dict[str, Fitter] = {
    "ours (numpy, torch tensors in heads.safetensors)": ours,
    "scikit-learn HistGradientBoosting, same recipe": _sklearn(SAME_RECIPE),
    "scikit-learn HistGradientBoosting, its defaults": _sklearn({"early_stopping": False}),
}


def _per_post_ms(predict: Callable[[Rows], Labels], rows: Rows, batch: int, calls: int) -> float:
    """Median wall time of one ``predict`` call on ``batch`` rows, per row, in ms."""
    times = []
    for i in range(calls):
        start = (i * batch) % max(1, len(rows) - batch)
        chunk = rows[start : start + batch]
        began = time.perf_counter()
        predict(chunk)
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times) / batch


def class_weight(labels: Labels, classes: int = 3) -> Rows:
    """``train``'s weights (:func:`worker.training.fit.class_weights`) in numpy: inverse
    class frequencies, normalised so that the mean weight over ``labels`` is 1."""
    counts = np.maximum(np.bincount(labels, minlength=classes), 1).astype(np.float64)
    weights = len(labels) / (classes * counts)
    normalised: Rows = weights / weights[labels].mean()
    return normalised


def compare_trees(
    x: Rows,
    y: Labels,
    folds: Labels,
    seed: int = 0,
    fitters: dict[str, Fitter] | None = None,
    timing_calls: int = 200,
) -> dict[str, Any]:
    """Fit and score each of ``fitters`` (default :data:`FITTERS`) on each fold of
    ``folds``, with ``train``'s class weights of the fold's training part; inference is
    timed over ``timing_calls`` calls per fold and batch size (the median is kept)."""
    from worker.names import ENTAILMENT_LABELS
    from worker.training.metrics import classification_report

    results: dict[str, Any] = {}
    for name, fitter in (FITTERS if fitters is None else fitters).items():
        predicted = np.zeros(len(y), dtype=np.int64)
        fold_f1, fit_s, one_ms, eight_ms = [], [], [], []
        for fold in np.unique(folds):
            held_out = folds == fold
            began = time.perf_counter()
            predict = fitter(x[~held_out], y[~held_out], class_weight(y[~held_out]), seed)
            fit_s.append(time.perf_counter() - began)
            predicted[held_out] = predict(x[held_out])
            report = classification_report(y[held_out], predicted[held_out], ENTAILMENT_LABELS)
            fold_f1.append(report.macro_f1)
            one_ms.append(_per_post_ms(predict, x[held_out], 1, timing_calls))
            eight_ms.append(_per_post_ms(predict, x[held_out], 8, timing_calls))
        pooled = classification_report(y, predicted, ENTAILMENT_LABELS)
        results[name] = {
            "macro_f1": round(pooled.macro_f1, 4),
            "fold_macro_f1": [round(f, 4) for f in fold_f1],
            "recall": {k: round(v.recall, 3) for k, v in pooled.per_class.items()},
            "fit_seconds_median": round(statistics.median(fit_s), 3),
            "ms_per_post_one_at_a_time": round(statistics.median(one_ms), 4),
            "ms_per_post_eight_at_a_time": round(statistics.median(eight_ms), 4),
        }
    return results


def _features(data_dir: Path, models: Path) -> tuple[Rows, Labels]:
    """The trees' input and labels of the usable training pairs, through the training code."""
    from moderation_lab.tiny_models import build_tiny_models
    from worker.training.boost import BoostConfig
    from worker.training.data import EntailmentPair, read_entailment_csv
    from worker.training.dataset import image_refs, prepare
    from worker.training.images import load_images
    from worker.training.record import TrainConfig
    from worker.training.runtime import MINILM, auto_pooling, training_settings
    from worker.training.store import FileStore
    from worker.training.tasks import lexical_inputs
    from worker.training.train import load_for_training

    image = build_tiny_models(models / "tiny")["image"]  # images are masked: any encoder will do
    settings = training_settings(MINILM, str(image))
    config = TrainConfig(
        text_pooling=auto_pooling(settings.text_encoder), text_links="strip", lexical=BoostConfig()
    )
    model = load_for_training(settings, config)
    split: tuple[list[EntailmentPair], list[EntailmentPair]] = (
        read_entailment_csv(data_dir / "train_df.csv"),
        [],
    )
    found = load_images(image_refs(split, None), settings, fetch=False)
    prepared = prepare(model, FileStore(models / "cache"), found, split)
    data = prepared.entailment
    assert data is not None
    table = lexical_inputs(prepared.tables, data.first, data.second, data.raw_texts)
    return table.astype(np.float64), data.labels


def _one_thread() -> None:
    """Every booster on one thread, for a fair per-post time (and no OpenMP threads
    spinning against each other on a busy machine)."""
    import torch

    torch.set_num_threads(1)
    try:
        from threadpoolctl import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
            threadpool_limits,
        )
    except ImportError:  # no scikit-learn, hence no OpenMP pool of its own
        return
    threadpool_limits(1)  # stays in force for the process


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="Folder of train_df.csv. Default: the data folder.")
    parser.add_argument("--models", type=Path, default=Path(".models"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("trees-results.json"))
    args = parser.parse_args(argv)
    from moderation_lab.demo.data import find_data_dir
    from worker.training.crossval import stratified_folds

    data_dir = args.data or ((find_data_dir() or Path("missing")) / "multimodal-entailment")
    if not (data_dir / "train_df.csv").is_file():
        parser.error(f"no train_df.csv in {data_dir}: give --data")
    x, y = _features(data_dir, args.models)
    _one_thread()
    folds = stratified_folds(y, args.folds, args.seed)  # train's CV folds, before any row is left out
    usable = ~np.isnan(x).any(axis=1)  # as in train: the trees see pairs with both texts only
    results = compare_trees(x[usable], y[usable], folds[usable], args.seed)
    y = y[usable]
    report = {"pairs": len(y), "features": x.shape[1], "folds": args.folds, "seed": args.seed, **results}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, figures in results.items():
        print(f"{name}: {json.dumps(figures)}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
