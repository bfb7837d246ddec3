"""The fine-tuning loop: class-weighted loss, AdamW with linear decay, early stopping on a
validation part, and a checkpoint that a stopped run resumes from (within an epoch).

The state (weights, optimizer, scheduler, epoch, batches done in the epoch, the torch
random state, the best epoch's weights and the history) is written atomically to
``<work>/state.pt`` every ``checkpoint_s`` seconds, every ``checkpoint_steps`` steps if set,
and at the end of each epoch. The batch order of an epoch depends only on the seed and the
epoch, so a run started again with the same command and data continues where the
checkpoint was and ends with the same weights as one that was never stopped.

Example::

    result = fine_tune(model, recipe, train_ids, train_y, val_ids, val_y, work=out / ".progress",
                       pad_id=tokenizer.pad_token_id)
    result.best_epoch, result.history
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn

from worker.errors import ModelError
from worker.finetune.model import PooledClassifier
from worker.finetune.progress import Progress, minutes
from worker.finetune.recipe import FineTuneRecipe

__all__ = ["TrainResult", "class_weights", "fine_tune", "pad_batch", "predict_proba", "tokenize"]

TokenIds = list[list[int]]


def tokenize(tokenizer: Any, texts: Sequence[str], max_tokens: int) -> TokenIds:
    """Token ids per text, truncated, unpadded (batches are padded to their longest)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_tokens, padding=False)
    return [list(ids) for ids in encoded["input_ids"]]


def pad_batch(rows: Sequence[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for n, row in enumerate(rows):
        ids[n, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[n, : len(row)] = 1
    return ids, mask


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> torch.Tensor:
    """(1 / frequency)^power, scaled to average 1 over the rows."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    weights /= (weights[labels]).mean()
    return torch.tensor(weights, dtype=torch.float32)


def predict_proba(
    model: PooledClassifier, ids: TokenIds, pad_id: int, batch_size: int = 64, label: str = ""
) -> np.ndarray:
    """[N, classes] softmax probabilities, in input order (batches of similar lengths)."""
    order = np.argsort([len(r) for r in ids], kind="stable")
    out = np.zeros((len(ids), model.head.out_features), dtype=np.float32)
    model.eval()
    bar = Progress(label, total=len(ids)) if label else None
    with torch.inference_mode():
        for start in range(0, len(ids), batch_size):
            rows = order[start : start + batch_size]
            batch_ids, mask = pad_batch([ids[i] for i in rows], pad_id)
            out[rows] = torch.softmax(model(batch_ids, mask).float(), dim=-1).numpy()
            if bar:
                bar.advance(len(rows))
    if bar:
        bar.close()
    return out


@dataclass
class TrainResult:
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    history: list[dict[str, float]]
    stage_seconds: dict[str, float]
    val_probabilities: np.ndarray
    steps: int
    resumed_from: int | None = None
    notes: list[str] = field(default_factory=list)


def _loss(
    recipe: FineTuneRecipe, weights: torch.Tensor
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if recipe.loss == "cross_entropy":
        return nn.CrossEntropyLoss(weight=weights)

    def focal(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)
        w = weights[target]
        return (-w * (1 - logp.exp()) ** recipe.focal_gamma * logp).sum() / w.sum()

    return focal


def _batches(seed: int, epoch: int, lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """The epoch's batches: shuffled, then sorted by length within pools of 50 batches (so a
    batch pads little), then the batches shuffled. Depends only on the seed and the epoch."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _run_id(recipe: FineTuneRecipe, data_key: str) -> str:
    return hashlib.sha256((recipe.model_dump_json() + data_key).encode()).hexdigest()[:16]


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill mid-write leaves the previous checkpoint


def fine_tune(
    model: PooledClassifier,
    recipe: FineTuneRecipe,
    train: tuple[TokenIds, np.ndarray],
    val: tuple[TokenIds, np.ndarray],
    *,
    work: Path,
    pad_id: int,
    data_key: str,
    checkpoint_s: float = 120.0,
    checkpoint_steps: int | None = None,
    on_step: Callable[[int], None] | None = None,
    stream: TextIO | None = None,
) -> TrainResult:
    """Train ``model`` in place and leave it holding its best epoch's weights.

    ``data_key`` identifies the data and split: a checkpoint from another recipe or data
    is refused rather than resumed."""
    stream = stream or sys.stderr
    (train_ids, train_y), (val_ids, val_y) = train, val
    n_classes = model.head.out_features
    work.mkdir(parents=True, exist_ok=True)
    state_path, best_path = work / "state.pt", work / "best.pt"
    run_id = _run_id(recipe, data_key)

    weights = class_weights(train_y, n_classes, recipe.class_weight_power)
    loss_fn = _loss(recipe, weights)
    head_lr = recipe.head_learning_rate or recipe.learning_rate
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.encoder.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(param)
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": recipe.weight_decay, "lr": recipe.learning_rate},
            {"params": no_decay, "weight_decay": 0.0, "lr": recipe.learning_rate},
            {"params": list(model.head.parameters()), "weight_decay": recipe.weight_decay, "lr": head_lr},
        ]
    )
    lengths = [len(r) for r in train_ids]
    per_epoch = len(_batches(recipe.seed, 0, lengths, recipe.batch_size))
    total = per_epoch * recipe.epochs
    warmup = int(total * recipe.warmup_fraction)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    epoch, step_in_epoch, global_step = 0, 0, 0
    best_score, best_epoch, bad_epochs, stopped = -1.0, -1, 0, False
    history: list[dict[str, float]] = []
    seconds: dict[str, float] = {"train": 0.0, "validate": 0.0}
    resumed_from: int | None = None
    torch.manual_seed(recipe.seed)

    if state_path.exists():
        try:
            state = torch.load(state_path, weights_only=False)
        except Exception as exc:  # a torn or foreign file: say so rather than start over silently
            raise ModelError(f"cannot read checkpoint {state_path}: {exc}; remove it to start again") from exc
        if state.get("run_id") != run_id:
            raise ModelError(
                f"{work} holds a checkpoint of another recipe or data ({state.get('run_id')}, this run: "
                f"{run_id}): remove it, or write to another --out"
            )
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        epoch, step_in_epoch, global_step = state["epoch"], state["step_in_epoch"], state["global_step"]
        best_score, best_epoch, bad_epochs = state["best_score"], state["best_epoch"], state["bad_epochs"]
        stopped, history, seconds = state["stopped"], state["history"], state["seconds"]
        resumed_from = global_step
        stream.write(f"resuming from {state_path}: epoch {epoch + 1}, step {step_in_epoch}/{per_epoch}\n")

    def checkpoint() -> None:
        _save(
            state_path,
            {
                "run_id": run_id,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "epoch": epoch,
                "step_in_epoch": step_in_epoch,
                "global_step": global_step,
                "best_score": best_score,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "stopped": stopped,
                "history": history,
                "seconds": seconds,
            },
        )

    last_save = time.monotonic()
    while epoch < recipe.epochs and not stopped:
        batches = _batches(recipe.seed, epoch, lengths, recipe.batch_size)
        bar = Progress(
            f"epoch {epoch + 1}/{recipe.epochs}", total=per_epoch, done=step_in_epoch, stream=stream
        )
        model.train()
        started = time.monotonic()
        running = 0.0
        for batch_no in range(step_in_epoch, per_epoch):
            rows = batches[batch_no]
            ids, mask = pad_batch([train_ids[i] for i in rows], pad_id)
            loss = loss_fn(model(ids, mask), torch.as_tensor(train_y[rows], dtype=torch.long))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step_in_epoch, global_step = batch_no + 1, global_step + 1
            value = float(loss.detach())
            running = value if running == 0.0 else 0.9 * running + 0.1 * value
            bar.advance(loss=running, lr=float(scheduler.get_last_lr()[0]))
            now = time.monotonic()
            due = checkpoint_steps is not None and global_step % checkpoint_steps == 0
            if due or now - last_save >= checkpoint_s:
                seconds["train"] += now - started
                started = now
                checkpoint()
                last_save = time.monotonic()
            if on_step is not None:
                on_step(global_step)
        bar.close()
        seconds["train"] += time.monotonic() - started

        started = time.monotonic()
        probs = predict_proba(model, val_ids, pad_id, label=f"validation after epoch {epoch + 1}")
        score = float(f1_score(val_y, probs.argmax(1), average="macro"))
        seconds["validate"] += time.monotonic() - started
        history.append({"epoch": epoch + 1, "val_macro_f1": score, "train_loss": running})
        stream.write(
            f"epoch {epoch + 1}: validation macro-F1 {score:.4f} (train {minutes(seconds['train'])})\n"
        )
        if score > best_score:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            _save(best_path, {"run_id": run_id, "model": model.state_dict(), "val": probs})
        else:
            bad_epochs += 1
            if bad_epochs > recipe.patience:
                stopped = True
                stream.write(f"early stop: {bad_epochs} epoch(s) without a better validation macro-F1\n")
        epoch, step_in_epoch = epoch + 1, 0
        checkpoint()
        last_save = time.monotonic()

    best = torch.load(best_path, weights_only=False)
    model.load_state_dict(best["model"])
    model.eval()
    return TrainResult(
        best_epoch=best_epoch + 1,
        epochs_run=epoch,
        stopped_early=stopped,
        history=history,
        stage_seconds=seconds,
        val_probabilities=np.asarray(best["val"]),
        steps=global_step,
        resumed_from=resumed_from,
    )
