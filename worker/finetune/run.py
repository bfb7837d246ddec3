"""A whole fine-tuning run under the declared protocol, stage by stage, resumable.

    read + normalise   the CSV's texts as the worker will read them
    split              holdout_split (stratified 80/20, seed 0) and a validation part of the 80%
    tokenise           once, unpadded
    baselines          TF-IDF, frozen features, frozen + TF-IDF on the same split (cached)
    train              worker.finetune.engine (checkpoints under <out>/.progress)
    test               the best epoch scored on the 20% it never saw
    decide             thresholds and calibration chosen on the validation scores
    save               encoder + head + finetune.json (recipe, data, split, figures, minutes)

Example::

    lines = run_fine_tune(FineTuneJob(csv, "text", "label", {"1": "bias", "0": ""}, out, "bias"), recipe)
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch

from worker.errors import ModelError
from worker.finetune.engine import fine_tune, predict_proba, tokenize
from worker.finetune.model import FineTunedConfig, PooledClassifier, load_tokenizer, mean_pool, save_model
from worker.finetune.progress import minutes
from worker.finetune.recipe import FineTuneRecipe
from worker.finetune.text import normaliser_id, prepare
from worker.training.splits import holdout_split, validation_split

__all__ = ["FineTuneJob", "run_fine_tune", "split_figures"]


@dataclass(frozen=True)
class FineTuneJob:
    csv: Path
    text_column: str
    label_column: str
    #: label as written -> category ('' : not a category); empty: every label its own category
    categories: dict[str, str]
    out: Path
    name: str
    baselines: bool = True
    checkpoint_s: float = 120.0
    checkpoint_steps: int | None = None
    threads: int = 0
    #: "f1" or "precision:P" (worker.training.thresholds)
    threshold_target: str = "f1"
    on_step: Callable[[int], None] | None = field(default=None, compare=False)


def split_figures(y: np.ndarray, probs: np.ndarray, classes: tuple[str, ...]) -> dict[str, Any]:
    """Macro-F1 and each class's precision / recall / F1 at the most probable class."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    predicted = probs.argmax(1)
    p, r, f, support = precision_recall_fscore_support(
        y, predicted, labels=list(range(len(classes))), zero_division=0
    )
    return {
        "macro_f1": float(f1_score(y, predicted, average="macro", labels=list(range(len(classes))))),
        "classes": {
            c: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": int(support[i]),
            }
            for i, c in enumerate(classes)
        },
    }


def _frozen_features(encoder: str, ids: list[list[int]], pad_id: int, cache: Path) -> np.ndarray:
    """Mean-pooled features of the untouched encoder (cached in ``cache``)."""
    if cache.exists():
        return np.asarray(np.load(cache)["features"])
    from worker.finetune.engine import pad_batch
    from worker.finetune.progress import Progress

    model = PooledClassifier.from_encoder(encoder, 2, 0.0).eval()
    order = np.argsort([len(r) for r in ids], kind="stable")
    out = np.zeros((len(ids), model.head.in_features), dtype=np.float32)
    bar = Progress("frozen features", total=len(ids))
    with torch.inference_mode():
        for start in range(0, len(ids), 64):
            rows = order[start : start + 64]
            batch, mask = pad_batch([ids[i] for i in rows], pad_id)
            hidden = model.encoder(input_ids=batch, attention_mask=mask).last_hidden_state
            out[rows] = mean_pool(hidden, mask).numpy()
            bar.advance(len(rows))
    bar.close()
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, features=out)
    tmp.replace(cache)
    return out


def _line(name: str, figures: dict[str, Any], rare: tuple[str, str] | None, took: float | None) -> str:
    extra = f"  {rare[1]} F1 {figures['classes'][rare[0]]['f1']:.3f}" if rare else ""
    spent = f"  ({minutes(took)})" if took is not None else ""
    return f"  {name:<28} macro-F1 {figures['macro_f1']:.3f}{extra}{spent}"


def run_fine_tune(job: FineTuneJob, recipe: FineTuneRecipe, stream: TextIO | None = None) -> list[str]:
    """Train, test on the hold-out and save; returns the report's lines."""
    from worker.training.category_cli import read_category_csv

    stream = stream or sys.stderr
    if job.threads:
        torch.set_num_threads(job.threads)
    stages: dict[str, float] = {}
    clock = time.monotonic()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        stages[name] = stages.get(name, 0.0) + now - clock
        clock = now
        stream.write(f"[{name}: {minutes(stages[name])}]\n")
        stream.flush()

    data = read_category_csv(job.csv, job.text_column, job.label_column)
    recipe = recipe.model_copy(update={"normaliser": normaliser_id()})
    texts = prepare(data.texts)
    classes = tuple(
        sorted(
            set(data.labels),
            key=lambda c: (not c.lstrip("-").isdigit(), int(c) if c.lstrip("-").isdigit() else 0, c),
        )
    )
    unknown = sorted(set(job.categories) - set(classes))
    if unknown:
        raise ModelError(
            f"--labels names {unknown}, which {job.label_column!r} never holds; it has {list(classes)}"
        )
    categories = (
        {c: job.categories.get(c, "") for c in classes} if job.categories else {c: c for c in classes}
    )
    y = np.array([classes.index(label) for label in data.labels], dtype=np.int64)
    split = holdout_split(data.labels, recipe.test_fraction, recipe.split_seed)
    val = validation_split(data.labels, split.train, recipe.validation_fraction, recipe.seed)
    stage("read")

    tokenizer = load_tokenizer(recipe.encoder)
    ids = tokenize(tokenizer, texts, recipe.max_tokens)
    pad_id = int(tokenizer.pad_token_id or 0)
    stage("tokenise")

    work = job.out / ".progress"
    work.mkdir(parents=True, exist_ok=True)
    baseline_probs: dict[str, np.ndarray] = {}
    if job.baselines:
        from worker.finetune.baselines import split_baselines

        key = hashlib.sha256(
            f"{recipe.encoder}:{recipe.max_tokens}:{data.sha256}:{recipe.normaliser}".encode()
        )
        frozen = _frozen_features(recipe.encoder, ids, pad_id, work / f"frozen-{key.hexdigest()[:16]}.npz")
        baseline_probs = split_baselines(texts, y, split, frozen)
        stage("baselines")

    model = PooledClassifier.from_encoder(recipe.encoder, len(classes), recipe.dropout, recipe.seed)
    data_key = f"{data.sha256}:{split.fingerprint}:{val.fingerprint}:{recipe.normaliser}"
    result = fine_tune(
        model,
        recipe,
        ([ids[i] for i in val.train], y[val.train]),
        ([ids[i] for i in val.test], y[val.test]),
        work=work,
        pad_id=pad_id,
        data_key=data_key,
        checkpoint_s=job.checkpoint_s,
        checkpoint_steps=job.checkpoint_steps,
        on_step=job.on_step,
        stream=stream,
    )
    stages["train"] = result.stage_seconds["train"] + result.stage_seconds["validate"]
    clock = time.monotonic()

    test_probs = predict_proba(model, [ids[i] for i in split.test], pad_id, label="test rows")
    y_test = y[split.test]
    stage("test")

    rarest = _rarest_category(classes, categories, y)
    rare = (rarest, categories[rarest]) if rarest else None  # (class, its category's name)
    figures: dict[str, Any] = {"fine_tuned": split_figures(y_test, test_probs, classes)}
    for name, probs in baseline_probs.items():
        figures[name] = split_figures(y_test, probs, classes)
    if "tfidf" in baseline_probs:
        figures["fine_tuned+tfidf (mean)"] = split_figures(
            y_test, (test_probs + baseline_probs["tfidf"]) / 2, classes
        )

    from worker.training.thresholds import decide

    decision = decide(
        y[val.test],
        result.val_probabilities,
        classes,
        categories,
        target=job.threshold_target,
        test=(y_test, test_probs),
        out=job.out,
        name=job.name,
    )
    stage("decide")

    config = FineTunedConfig(
        name=job.name,
        classes=classes,
        categories=categories,
        recipe=recipe,
        data={
            "file": job.csv.name,
            "path": str(job.csv.resolve()),
            "sha256": data.sha256,
            "rows": len(texts),
            "text_column": job.text_column,
            "label_column": job.label_column,
            "split": split.describe(),
            "validation": {"rows": len(val.test), "fingerprint": val.fingerprint},
        },
        figures={
            "test": figures,
            "history": result.history,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "minutes": {k: round(v / 60, 2) for k, v in stages.items()},
            "resumed_from_step": result.resumed_from,
        },
        decision=decision.record,
    )
    save_model(job.out, model, tokenizer, config)
    # The resumable state (weights, optimizer, cached features) is several times the model's
    # size: once the model is saved it has served its purpose.
    shutil.rmtree(work, ignore_errors=True)
    stage("save")

    lines = [
        f"{job.name}: fine-tuned {_encoder_name(recipe.encoder)} on {job.csv.name} ({len(texts)} rows), "
        f"declared protocol: stratified {1 - recipe.test_fraction:.0%}/{recipe.test_fraction:.0%} split, "
        f"seed {recipe.split_seed} ({len(split.train)} train incl. {len(val.test)} validation, "
        f"{len(split.test)} test; split {split.fingerprint})",
        f"  best epoch {result.best_epoch} of {result.epochs_run}"
        + (" (early stop)" if result.stopped_early else "")
        + "; validation macro-F1 by epoch: "
        + ", ".join(f"{h['val_macro_f1']:.3f}" for h in result.history),
        "test rows (never seen in training, validation or threshold choice):",
        _line("fine-tuned", figures["fine_tuned"], rare, stages.get("train")),
    ]
    for name in baseline_probs:
        lines.append(_line(name, figures[name], rare, None))
    if "fine_tuned+tfidf (mean)" in figures:
        lines.append(_line("fine-tuned + TF-IDF (mean)", figures["fine_tuned+tfidf (mean)"], rare, None))
    if baseline_probs:
        lines.append(f"  (baselines together: {minutes(stages['baselines'])})")
    lines += decision.lines
    lines.append("minutes per stage: " + ", ".join(f"{k} {v / 60:.1f}" for k, v in stages.items()))
    lines.append(f"written: {job.out} (finetune.json holds the recipe, the split and these figures)")
    (job.out / "report.txt").write_text("\n".join(lines) + "\n")
    return lines


def _encoder_name(source: str) -> str:
    """The packaged MiniLM by its name (its folder is called "model"), others by folder or id."""
    from worker.finetune.recipe import default_encoder

    if Path(source) == Path(default_encoder()):
        return "all-MiniLM-L6-v2 (packaged)"
    return Path(source).name or source


def _rarest_category(classes: tuple[str, ...], categories: dict[str, str], y: np.ndarray) -> str | None:
    """The class whose F1 is printed beside macro-F1 (the rarest that is a category)."""
    counts = np.bincount(y, minlength=len(classes))
    named = [i for i, c in enumerate(classes) if categories.get(c)]
    if len(classes) <= 2 or not named:
        return None
    return classes[min(named, key=lambda i: counts[i])]
