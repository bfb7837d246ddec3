"""``train``: heads trained on labelled CSVs, written as a checkpoint the worker loads.

The encoders are frozen: their outputs are computed once through the live
model (and cached, see :mod:`.store`), so an epoch only runs the small heads.
The shared projections start as a seeded rotation of the standardised features
(:func:`~worker.training.tasks.standardise_projection`) and stay frozen unless
``fit.tune_projections``. Each head is cross-validated on its training CSV
(the figure to improve), then trained on all of it with early stopping on the
validation CSV, and scored there next to the majority-class baseline.

Example::

    record = train(settings, TrainConfig(text_pooling="mean"), Path(".models/heads-minilm"),
                   FileStore(Path(".models/cache")), entailment=(train_csv, val_csv))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from worker.config.settings import Settings
from worker.errors import ModelError
from worker.model.heads import HeadsConfig
from worker.model.moderation import ModerationModel
from worker.names import ENTAILMENT_LABELS
from worker.training.baselines import linear_probe_cv
from worker.training.crossval import cross_validate, stratified_folds
from worker.training.data import file_sha256, read_bias_csv, read_entailment_csv
from worker.training.dataset import Prepared, image_refs, prepare
from worker.training.encode import IntArray
from worker.training.fit import fit, predict
from worker.training.images import load_images
from worker.training.metrics import Report, classification_report, majority_baseline
from worker.training.record import DataFile, TaskRecord, TrainConfig, TrainingRecord
from worker.training.runtime import MINILM, resolve_encoder
from worker.training.store import FeatureStore
from worker.training.tasks import (
    Task,
    bias_task,
    entailment_task,
    lexical_inputs,
    projections,
    standardise_projection,
)

__all__ = ["load_for_training", "train"]

log = logging.getLogger(__name__)

Files = tuple[Path, Path | None]
T = TypeVar("T")


def load_for_training(settings: Settings, config: TrainConfig) -> ModerationModel:
    """The live model with fresh heads shaped by ``config`` (CLIP is not loaded)."""
    plain = settings.model_copy(update={"clip_model": "", "heads": None})
    width = config.projection_dim or _hidden_size(settings.text_encoder)
    heads = HeadsConfig(
        name=config.name,
        projection_dim=width,
        proj_dropout=config.dropout,
        fusion_dropout=config.dropout,
        entailment_dropout=config.dropout,
        text_pooling=config.text_pooling,
        text_links=config.text_links,
        entailment_features=config.entailment_features,
        lexical_trees=len(ENTAILMENT_LABELS) * config.lexical.rounds if config.lexical else 0,
        lexical_depth=config.lexical.depth if config.lexical else 3,
        lexical_weight=config.lexical_weight,
    )
    model = ModerationModel.load(plain, fresh_heads=heads)
    # The worker starts untrained heads from seed 0; training starts them from its own seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.fit.seed)
        for head in (
            *projections(model.bias),
            model.bias.fusion_layer,
            model.bias.classifier,
            model.entailment,
        ):
            for layer in head.modules():
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
    return model


def train(
    settings: Settings,
    config: TrainConfig,
    out: Path,
    store: FeatureStore,
    entailment: Files | None = None,
    bias: Files | None = None,
) -> TrainingRecord:
    """Train the heads named by the CSVs given, write ``out`` and return what was measured."""
    if entailment is None and bias is None:
        raise ModelError("nothing to train: give an entailment CSV, a bias CSV, or both")
    if entailment and bias and config.fit.tune_projections:
        raise ModelError("tuning the shared projections trains them for one task: train one head per run")
    clock = _Clock()
    ent = (
        (read_entailment_csv(entailment[0]), _read(read_entailment_csv, entailment[1]))
        if entailment
        else None
    )
    bia = (read_bias_csv(bias[0]), _read(read_bias_csv, bias[1])) if bias else None
    model = load_for_training(settings, config)
    clock.lap("load")
    found = load_images(image_refs(ent, bia), settings, fetch=config.fetch_images)
    log.info("images: %s", found.summary())
    clock.lap("images")
    prepared = prepare(model, store, found, ent, bia)
    clock.lap("encode")
    _standardise(model, prepared, config.fit.seed)
    records: dict[str, TaskRecord] = {}
    if entailment is not None:
        records["entailment"] = _run_entailment(model, prepared, config, entailment, clock)
    if bias is not None:
        records["bias"] = _run_bias(model, prepared, config, bias, clock)
    model.save_heads(
        out, name=config.name, thresholds={"bias": 0.5, "contradiction": 0.5}, trained=tuple(records)
    )
    clock.lap("save")
    record = _record(settings, config, model, found.summary(), clock, records)
    record.write(out)
    return record


def _record(
    settings: Settings,
    config: TrainConfig,
    model: ModerationModel,
    images: str,
    clock: _Clock,
    tasks: dict[str, TaskRecord],
) -> TrainingRecord:
    return TrainingRecord(
        name=config.name,
        text_encoder=_located(settings.text_encoder),
        image_encoder=_located(settings.image_encoder),
        encoders={k: model.identity.components[f"{k}_encoder"] for k in ("text", "image")},
        encoder_ids={k: v for k, v in model.encoder_ids.items() if k in ("text", "image")},
        config=config,
        images=images,
        seconds=clock.laps,
        entailment=tasks.get("entailment"),
        bias=tasks.get("bias"),
    )


def _located(id_or_path: str) -> str:
    """How training.json names an encoder: ``minilm`` for the packaged all-MiniLM-L6-v2
    (its folder differs between installations), a local folder as an absolute path
    (usable from anywhere), a Hub id as it is."""
    path = Path(id_or_path)
    if not path.exists():
        return id_or_path
    with suppress(ModelError):
        if path.resolve() == Path(resolve_encoder(MINILM)).resolve():
            return MINILM
    return str(path.resolve())


def _hidden_size(id_or_path: str) -> int:
    # Imported here, after worker.model (imported above) made transformers importable.
    from transformers import AutoConfig

    try:
        return int(AutoConfig.from_pretrained(id_or_path).hidden_size)
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelError(f"cannot read the hidden size of text encoder {id_or_path!r}: {exc}") from exc


def _standardise(model: ModerationModel, prepared: Prepared, seed: int) -> None:
    standardise_projection(model.bias.text_projection, prepared.tables.text, seed)
    standardise_projection(model.bias.image_projection, prepared.tables.image, seed + 1)


def _run_entailment(
    model: ModerationModel, prepared: Prepared, config: TrainConfig, files: Files, clock: _Clock
) -> TaskRecord:
    data = prepared.entailment
    assert data is not None
    lexical = None
    if config.lexical is not None:
        table = lexical_inputs(prepared.tables, data.first, data.second, data.raw_texts)
        lexical = (table, config.lexical, config.fit.seed)
    task = entailment_task(
        model.bias, model.entailment, prepared.tables, data.first, data.second, data.labels, lexical
    )
    probe = None
    if config.cv_folds > 1:
        t = data.train_index
        folds = stratified_folds(data.labels[t], config.cv_folds, config.fit.seed)
        probe = linear_probe_cv(
            prepared.tables.text, data.first.text[t], data.second.text[t], data.labels[t], folds
        )
    seen = (data.first.image[data.train_index] >= 0) | (data.second.image[data.train_index] >= 0)
    return _run_task(
        task, model, (data.train_index, data.val_index), config, files, clock, probe, bool(seen.any())
    )


def _run_bias(
    model: ModerationModel, prepared: Prepared, config: TrainConfig, files: Files, clock: _Clock
) -> TaskRecord:
    data = prepared.bias
    assert data is not None
    task = bias_task(model.bias, prepared.tables, data.posts, data.labels)
    seen = bool((data.posts.image[data.train_index] >= 0).any())
    return _run_task(task, model, (data.train_index, data.val_index), config, files, clock, None, seen)


def _run_task(
    task: Task,
    model: ModerationModel,
    split: tuple[IntArray, IntArray],
    config: TrainConfig,
    files: Files,
    clock: _Clock,
    probe: Report | None,
    uses_images: bool,
) -> TaskRecord:
    """Cross-validate (when asked), then train on the whole training CSV and validate.

    A head that saw no image in training is made to ignore images: its image weights
    never learned anything, and the live worker, which does fetch images, must get
    the text-only answer it was trained to give rather than noise.
    """
    train_index, val_index = split
    labels, shared = task.labels.numpy(), projections(model.bias)
    majority = int(np.bincount(labels[train_index], minlength=len(task.classes)).argmax())
    cv = cv_majority = None
    if config.cv_folds > 1:
        cv = cross_validate(task, train_index, val_index, config.fit, shared, config.cv_folds)
        cv_majority = majority_baseline(labels[train_index], task.classes, majority)
        log.info("%s: %d-fold CV macro-F1 %.3f", task.name, config.cv_folds, cv.report.macro_f1)
        clock.lap(f"{task.name}_cv")
    task.prepare_fold(train_index)
    result = fit(task, train_index, val_index, config.fit, shared)
    if not uses_images:
        task.ignore_images()
    clock.lap(f"{task.name}_fit")
    validation = val_majority = None
    if len(val_index):
        predicted = predict(task, val_index).argmax(axis=1)
        validation = classification_report(labels[val_index], predicted, task.classes)
        val_majority = majority_baseline(labels[val_index], task.classes, majority)
    return TaskRecord(
        trained_on=_data_file(files[0], len(train_index)),
        validated_on=_data_file(files[1], len(val_index)) if files[1] else None,
        best_epoch=result.best_epoch,
        epochs_run=result.epochs_run,
        validation=validation,
        validation_majority=val_majority,
        cross_validation=cv,
        cv_majority=cv_majority,
        cv_linear_probe=probe,
        uses_images=uses_images,
    )


def _data_file(path: Path, rows: int) -> DataFile:
    return DataFile(path=str(path), sha256=file_sha256(path), rows=rows)


def _read(reader: Callable[[Path], list[T]], path: Path | None) -> list[T]:
    return reader(path) if path is not None else []


class _Clock:
    """Wall time of each step, in seconds."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._start = self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(now - self._last, 2)
        self.laps["total"] = round(now - self._start, 2)
        self._last = now
