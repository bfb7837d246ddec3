"""``moderation-worker train entailment|bias`` and ``evaluate entailment|bias``: the heads
checkpoint (one folder, ``MODERATION_HEADS``, holding both heads).

Example::

    moderation-worker train entailment train_df.csv --val val_df.csv \\
        --text-encoder minilm --image-encoder .models/tiny/image --out .models/heads-minilm
    moderation-worker train bias posts.csv --val posts-val.csv --out .models/heads-bias
    moderation-worker evaluate entailment --heads .models/heads-minilm --data val_df.csv --out val.json
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from pydantic import ValidationError

from worker.errors import ModelError
from worker.finetune.cli import FineTune, FineTuneSet, Threads, ThresholdTarget
from worker.training.cli_common import exit_on_error, start_logging, write_text
from worker.training.cli_options import (
    CACHE_DIR,
    Cache,
    CacheDir,
    CheckpointImageEncoder,
    CheckpointTextEncoder,
    Cv,
    Data,
    Heads,
    ImageEncoder,
    Images,
    LabelColumn,
    Labels,
    Links,
    Out,
    Png,
    Pooling,
    Report,
    Seed,
    TextColumn,
    TextEncoder,
    TrainCv,
    TrainData,
    Val,
)

if TYPE_CHECKING:  # the heavy modules load when a command runs, not when the CLI starts
    from worker.config.settings import Settings
    from worker.training.evaluate import DataRole
    from worker.training.record import TaskRecord, TrainConfig, TrainingRecord
    from worker.training.store import FeatureStore

__all__ = ["evaluate_bias", "evaluate_entailment", "train_bias", "train_entailment"]


ProjectionDim = Annotated[
    int | None, typer.Option(help="Projection width. Default: the text encoder's.", show_default=False)
]
Name = Annotated[
    str | None, typer.Option(help="Name in verdicts. Default: --out's folder name.", show_default=False)
]
Loss = Annotated[
    Literal["focal", "weighted"],
    typer.Option(help="Class-weighted focal loss or cross-entropy."),
]
Gamma = Annotated[float, typer.Option(help="Focal loss gamma.")]
Epochs = Annotated[int, typer.Option(help="Most epochs.")]
Patience = Annotated[int, typer.Option(help="Epochs without a better macro-F1.")]
Lr = Annotated[float, typer.Option(help="Learning rate of the heads.")]
TuneProjections = Annotated[
    bool, typer.Option("--tune-projections", help="Also train the shared projections.")
]


def train_entailment(
    data: TrainData,
    out: Out,
    val: Val = None,
    bias: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Also train the bias head on this CSV."),
    ] = None,
    bias_val: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Validation CSV of --bias.")
    ] = None,
    name: Name = None,
    text_encoder: TextEncoder = None,
    image_encoder: ImageEncoder = None,
    pooling: Pooling = "auto",
    links: Links = "strip",
    features: Annotated[
        Literal["pair", "concat"],
        typer.Option(help="pair: adds |a-b| and a*b."),
    ] = "pair",
    lexical: Annotated[bool, typer.Option(help="Blend in trees over the texts' overlap.")] = True,
    lexical_weight: Annotated[float, typer.Option(help="Weight of the trees in the blend.")] = 0.5,
    stop_on: Annotated[
        Literal["head", "blend"],
        typer.Option(help="What early stopping scores."),
    ] = "head",
    projection_dim: ProjectionDim = None,
    loss: Loss = "focal",
    gamma: Gamma = 2.0,
    epochs: Epochs = 60,
    patience: Patience = 15,
    lr: Lr = 1e-3,
    tune_projections: TuneProjections = False,
    seed: Seed = 0,
    cv: TrainCv = 5,
    images: Images = True,
    cache: Cache = "file",
    cache_dir: CacheDir = CACHE_DIR,
) -> None:
    """Train the entailment head on a multimodal-entailment CSV (id_1,text_1,...,label).

    Writes heads.safetensors, heads.json and training.json into --out, the folder the worker
    loads as MODERATION_HEADS; with --bias, the bias head is trained into it too.
    """
    recipe: dict[str, Any] = {"entailment_features": features, "lexical": {} if lexical else None}
    recipe |= {"lexical_weight": lexical_weight, "stop_on": stop_on}
    tasks = {"entailment": (data, val), "bias": (bias, bias_val) if bias else None}
    encoders = (text_encoder, image_encoder, pooling, links)
    fitting = (projection_dim, loss, gamma, epochs, patience, lr, tune_projections, seed, cv, images)
    _train(tasks, out, name, encoders, recipe, fitting, (cache, cache_dir))


def train_bias(
    data: TrainData,
    out: Out,
    val: Val = None,
    name: Name = None,
    text_encoder: TextEncoder = None,
    image_encoder: ImageEncoder = None,
    pooling: Pooling = "auto",
    links: Links = "strip",
    projection_dim: ProjectionDim = None,
    loss: Loss = "focal",
    gamma: Gamma = 2.0,
    epochs: Epochs = 60,
    patience: Patience = 15,
    lr: Lr = 1e-3,
    tune_projections: TuneProjections = False,
    seed: Seed = 0,
    cv: TrainCv = 5,
    images: Images = True,
    cache: Cache = "file",
    cache_dir: CacheDir = CACHE_DIR,
    fine_tune: FineTune = False,
    fine_tune_set: FineTuneSet = None,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    labels: Labels = "1=bias,0=",
    threshold_target: ThresholdTarget = "f1",
    threads: Threads = 0,
) -> None:
    """Train the bias head on a text,image_url,label CSV into --out (MODERATION_HEADS).

    --fine-tune: a text-only bias model on a text,label CSV (BABE: no images), served as
    {"kind": "finetuned", "source": OUT}; it decides the bias category (docs/fine-tuning.md).
    """
    if fine_tune:
        from worker.finetune.cli import from_command

        start_logging()
        with exit_on_error():
            lines = from_command(
                name or "bias",
                data,
                out,
                (text_column, label_column, labels),
                text_encoder,
                fine_tune_set,
                threads=threads,
                threshold_target=threshold_target,
            )
        for line in lines:
            typer.echo(line)
        typer.echo(f'serve it with MODERATION_CLASSIFIERS=\'[{{"kind": "finetuned", "source": "{out}"}}]\'')
        return
    encoders = (text_encoder, image_encoder, pooling, links)
    fitting = (projection_dim, loss, gamma, epochs, patience, lr, tune_projections, seed, cv, images)
    _train({"entailment": None, "bias": (data, val)}, out, name, encoders, {}, fitting, (cache, cache_dir))


def _train(
    tasks: dict[str, tuple[Path, Path | None] | None],
    out: Path,
    name: str | None,
    encoders: tuple[str | None, str | None, str, str],
    recipe: dict[str, Any],
    fitting: tuple[int | None, str, float, int, int, float, bool, int, int, bool],
    cache: tuple[str, Path],
) -> None:
    from worker.training.report import summary_lines
    from worker.training.runtime import auto_pooling, open_store, training_settings
    from worker.training.train import train

    text_encoder, image_encoder, pooling, links = encoders
    projection_dim, loss, gamma, epochs, patience, lr, tune, seed, cv, images = fitting
    start_logging()
    with exit_on_error():
        settings = training_settings(text_encoder, image_encoder)
        fit = {"epochs": epochs, "patience": patience, "lr": lr, "loss": loss, "gamma": gamma}
        fit |= {"tune_projections": tune, "seed": seed, "stop_on": recipe.pop("stop_on", "head")}
        config = _train_config(
            {
                "name": name or out.name,
                "projection_dim": projection_dim,
                "text_pooling": auto_pooling(settings.text_encoder) if pooling == "auto" else pooling,
                "text_links": links,
                "cv_folds": cv,
                "fetch_images": images,
                "fit": fit,
                **recipe,
            }
        )
        with open_store(*cache, settings) as store:
            record = train(settings, config, out, store, **tasks)
    for line in summary_lines(record):
        typer.echo(line)
    typer.echo(f"wrote {out} (heads.safetensors, heads.json, training.json)")


def evaluate_entailment(
    heads: Heads,
    data: Data,
    out: Report,
    png: Png = None,
    cv: Cv = 0,
    val: Val = None,
    text_encoder: CheckpointTextEncoder = None,
    image_encoder: CheckpointImageEncoder = None,
    images: Images = True,
    cache: Cache = "file",
    cache_dir: CacheDir = CACHE_DIR,
) -> None:
    """Score a heads checkpoint's entailment head on a multimodal-entailment CSV: macro-F1,
    per-class figures and the confusion matrix (text and PNG) beside the majority-class
    baseline; JSON to --out. --cv K also re-runs the checkpoint's recipe in K-fold
    cross-validation on --data (--val: the validation CSV of its early stopping)."""
    _evaluate(
        "entailment",
        heads,
        data,
        out,
        png,
        cv,
        val,
        (text_encoder, image_encoder),
        images,
        (cache, cache_dir),
    )


def evaluate_bias(
    heads: Heads,
    data: Data,
    out: Report,
    png: Png = None,
    cv: Cv = 0,
    val: Val = None,
    text_encoder: CheckpointTextEncoder = None,
    image_encoder: CheckpointImageEncoder = None,
    images: Images = True,
    cache: Cache = "file",
    cache_dir: CacheDir = CACHE_DIR,
) -> None:
    """Score a heads checkpoint's bias head on a text,image_url,label CSV: macro-F1,
    per-class figures and the confusion matrix (text and PNG) beside the majority-class
    baseline; JSON to --out. --cv K also re-runs the checkpoint's recipe in K-fold
    cross-validation on --data (--val: the validation CSV of its early stopping)."""
    _evaluate(
        "bias", heads, data, out, png, cv, val, (text_encoder, image_encoder), images, (cache, cache_dir)
    )


def _evaluate(
    kind: str,
    heads: Path,
    data: Path,
    out: Path,
    png: Path | None,
    cv: int,
    val: Path | None,
    encoders: tuple[str | None, str | None],
    images: bool,
    cache: tuple[str, Path],
) -> None:
    from worker.training.category_evaluate import CATEGORY_FILE
    from worker.training.evaluate import detect_task, evaluate
    from worker.training.plot import save_confusion_png
    from worker.training.record import TRAINING_FILE, TrainingRecord
    from worker.training.report import evaluation_lines
    from worker.training.runtime import open_store, training_settings

    start_logging()
    with exit_on_error():
        if (heads / CATEGORY_FILE).is_file():
            raise ModelError(f"{heads} is a category head: evaluate it with `evaluate category`")
        found = detect_task(data)
        if found != kind:
            raise ModelError(f"{data} is a {found} CSV: evaluate it with `evaluate {found}`")
        record = TrainingRecord.read(heads) if (heads / TRAINING_FILE).is_file() else None
        settings = training_settings(
            encoders[0] or (record.text_encoder if record else None),
            encoders[1] or (record.image_encoder if record else None),
        )
        with open_store(*cache, settings) as store:
            result = evaluate(settings, heads, data, store, fetch_images=images)
            result = result.model_copy(update={"data_role": _role(record, result.data.sha256)})
            if cv > 1:
                folds = _cross_validate(record, settings, data, val, cv, store, images)
                result = result.model_copy(update={"cross_validation": folds})
        picture = save_confusion_png(result.metrics, png or out.with_suffix(".png"), data.name)
        result = result.model_copy(update={"confusion_png": str(picture)})
        write_text(out, result.model_dump_json(indent=2) + "\n")
    for line in evaluation_lines(result):
        typer.echo(line)
    typer.echo(f"wrote {out} and {picture}")


def _cross_validate(
    record: TrainingRecord | None,
    settings: Settings,
    data: Path,
    val: Path | None,
    folds: int,
    store: FeatureStore,
    images: bool,
) -> TaskRecord:
    """The checkpoint's recipe re-run in cross-validation on ``data`` (its heads are discarded)."""
    from worker.training.evaluate import detect_task
    from worker.training.train import train

    if record is None:
        raise ModelError("--cv re-runs the recipe in training.json, which this checkpoint lacks")
    config = record.config.model_copy(update={"cv_folds": folds, "fetch_images": images})
    task = detect_task(data)
    with tempfile.TemporaryDirectory(prefix="cv-") as scratch:
        rerun = train(settings, config, Path(scratch), store, **{task: (data, val)})
    result = rerun.entailment if task == "entailment" else rerun.bias
    assert result is not None
    return result


def _role(record: TrainingRecord | None, sha256: str) -> DataRole:
    """Whether training saw the evaluated file, and how."""
    for task in (record.entailment, record.bias) if record else ():
        if task is not None and task.trained_on.sha256 == sha256:
            return "training"
        if task is not None and task.validated_on is not None and task.validated_on.sha256 == sha256:
            return "validation (early stopping)"
    return "unseen"


def _train_config(raw: dict[str, object]) -> TrainConfig:
    from worker.training.record import TrainConfig

    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc
