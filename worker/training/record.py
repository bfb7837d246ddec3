"""What a training run was and what it measured: ``training.json`` beside the heads.

``heads.json`` (:mod:`worker.model.heads`) is what the worker needs to load the
heads; ``training.json`` is for people and for ``evaluate``: the recipe
(:class:`TrainConfig`, enough to re-run it in cross-validation), the encoders
by path and weight hash, the data files by sha256, how many images were usable,
and every figure measured, each next to its baselines.

Example::

    record = TrainingRecord.read(Path(".models/heads-minilm"))
    record.entailment.cross_validation.report.macro_f1
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from worker.errors import CheckpointError
from worker.model.links import TextLinks
from worker.training.boost import BoostConfig
from worker.training.crossval import CrossValidation
from worker.training.fit import FitConfig
from worker.training.metrics import Report
from worker.training.runtime import resolve_encoder

__all__ = ["TRAINING_FILE", "DataFile", "TaskRecord", "TrainConfig", "TrainingRecord"]

TRAINING_FILE = "training.json"


class TrainConfig(BaseModel):
    """The recipe: everything that decides the trained weights besides the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "trained"
    #: Width of the shared projections; None: the text encoder's hidden size.
    projection_dim: int | None = Field(None, ge=1)
    text_pooling: Literal["cls", "mean"] = "cls"
    #: What the text encoder is shown of the posts' links (worker/model/links.py);
    #: ``train`` strips them, a recipe recorded before this existed kept them.
    text_links: TextLinks = "keep"
    entailment_features: Literal["concat", "pair"] = "pair"
    dropout: float = Field(0.1, ge=0, lt=1)
    fit: FitConfig = FitConfig()
    #: The entailment head's lexical trees (None: none); their seed is ``fit.seed``.
    #: ``train`` on the command line asks for them; a recipe recorded before they
    #: existed has none, and re-runs (``evaluate --cv``) as it was.
    lexical: BoostConfig | None = None
    #: Weight of the trees' probabilities in the entailment head's blend.
    lexical_weight: float = Field(0.5, ge=0, le=1)
    cv_folds: int = Field(5, ge=0)
    fetch_images: bool = True


class DataFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    rows: int


class TaskRecord(BaseModel):
    """One head's training: data, stopping point, and figures with their baselines."""

    model_config = ConfigDict(frozen=True)

    trained_on: DataFile
    validated_on: DataFile | None = None
    best_epoch: int
    epochs_run: int
    #: False: no training example had a usable image, and the head ignores images.
    uses_images: bool = True
    validation: Report | None = None
    validation_majority: Report | None = None
    cross_validation: CrossValidation | None = None
    cv_majority: Report | None = None
    cv_linear_probe: Report | None = None


class TrainingRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    format: Literal["moderation-training/1"] = "moderation-training/1"
    name: str
    #: Hub id, absolute folder, or ``minilm`` (the packaged all-MiniLM-L6-v2).
    text_encoder: str
    image_encoder: str
    #: "text" / "image" -> sha256 of the encoder weights (as in heads.json).
    encoders: dict[str, str]
    #: Cache ids of the features trained on (weights + tokenizer + pooling + precision).
    encoder_ids: dict[str, str]
    config: TrainConfig
    images: str
    entailment: TaskRecord | None = None
    bias: TaskRecord | None = None
    seconds: dict[str, float] = Field(default_factory=dict)

    def write(self, folder: Path) -> Path:
        path = folder / TRAINING_FILE
        try:
            path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise CheckpointError(f"cannot write {path}: {exc}") from exc
        return path

    def worker_settings(self, folder: Path) -> dict[str, str]:
        """The settings that make a worker load these heads on their own encoders
        (e.g. for ``moderation-lab demo``): text and image encoder, heads folder."""
        return {
            "text_encoder": resolve_encoder(self.text_encoder),
            "image_encoder": self.image_encoder,
            "heads": str(folder.resolve()),
        }

    @classmethod
    def read(cls, folder: Path) -> TrainingRecord:
        path = folder / TRAINING_FILE
        try:
            return cls.model_validate_json(path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise CheckpointError(f"cannot read {path}: {exc}") from exc
