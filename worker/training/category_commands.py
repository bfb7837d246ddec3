"""``moderation-worker train category NAME DATA`` and ``evaluate category``: a category head
on the shared encoders, cross-validated, then scored on any labelled CSV.

Example::

    moderation-worker train category hate_offensive data.csv --text-column tweet \\
        --label-column class --labels "0=hate,1=offensive,2=" --text-encoder minilm
    moderation-worker evaluate category --heads .models/hate_offensive --data test.csv --out test.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

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
    LabelColumn,
    Labels,
    Links,
    Png,
    Pooling,
    Report,
    Seed,
    TextColumn,
    TextEncoder,
    TrainCv,
    TrainData,
)

__all__ = ["evaluate_category", "train_category"]


ImageColumn = Annotated[
    str | None,
    typer.Option(help="The CSV's image URLs or files."),
]


def train_category(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The head's name (docs/categories.md).")],
    data: TrainData,
    out: Annotated[
        Path | None, typer.Option(help="Folder to write. Default: .models/NAME.", show_default=False)
    ] = None,
    labels: Labels = "",
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    image_column: ImageColumn = None,
    inputs: Annotated[
        Literal["text", "image", "text+image"],
        typer.Option(help="What the head reads (image: its images' mean)."),
    ] = "text",
    tfidf: Annotated[
        bool | None,
        typer.Option(
            help="TF-IDF word n-grams. Default: with text.",
            show_default=False,
        ),
    ] = None,
    encoder_features: Annotated[bool, typer.Option(help="The shared encoders' features.")] = True,
    normalise: Annotated[
        bool,
        typer.Option(help="TF-IDF reads normalised text (docs/evasion.md)."),
    ] = True,
    c: Annotated[float, typer.Option(help="Inverse regularisation.")] = 1.0,
    cv: TrainCv = 5,
    baselines: Annotated[bool, typer.Option(help="Also cross-validate the two baselines.")] = True,
    seed: Seed = 0,
    text_encoder: TextEncoder = None,
    image_encoder: ImageEncoder = None,
    pooling: Pooling = "auto",
    links: Links = "strip",
    cache: Cache = "file",
    cache_dir: CacheDir = CACHE_DIR,
    threshold_target: ThresholdTarget = "f1",
    fine_tune: FineTune = False,
    fine_tune_set: FineTuneSet = None,
    threads: Threads = 0,
) -> None:
    """Train a category head NAME on a labelled CSV (text, image or both), cross-validated
    beside two baselines: a MODERATION_CLASSIFIERS entry {"kind": "head", "source": FOLDER}
    ("finetuned" with --fine-tune)."""
    from worker.training.category_cli import parse_labels, run_category_training
    from worker.training.runtime import open_store, training_settings

    start_logging()
    target = out or Path(".models") / name
    if fine_tune:
        from worker.finetune.cli import from_command

        with exit_on_error():
            lines = from_command(
                name,
                data,
                target,
                (text_column, label_column, labels),
                text_encoder,
                fine_tune_set,
                threads=threads,
                threshold_target=threshold_target,
                baselines=baselines,
            )
        for line in lines:
            typer.echo(line)
        typer.echo(
            f'serve it with MODERATION_CLASSIFIERS=\'[{{"kind": "finetuned", "source": "{target}"}}]\''
        )
        return
    raw = {
        "name": name,
        "inputs": inputs,
        "categories": parse_labels(labels),
        "tfidf": tfidf if tfidf is not None else "text" in inputs,
        "encoder_features": encoder_features,
        "normalise": normalise,
        "c": c,
        "cv_folds": cv,
        "seed": seed,
        "baselines": baselines,
        "threshold_target": threshold_target,
    }
    with exit_on_error(), open_store(cache, cache_dir, training_settings(text_encoder)) as store:
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


def evaluate_category(
    heads: Heads,
    data: Data,
    out: Report,
    png: Png = None,
    cv: Cv = 0,
    text_column: TextColumn = "text",
    label_column: LabelColumn = "label",
    image_column: ImageColumn = None,
    text_encoder: CheckpointTextEncoder = None,
    image_encoder: CheckpointImageEncoder = None,
    cache: Cache = "file",
    cache_dir: CacheDir = CACHE_DIR,
) -> None:
    """Score a category head (from train category) on a labelled CSV: macro-F1, per-class
    figures and the confusion matrix (text and PNG) beside the majority-class baseline; JSON
    to --out. --cv K also re-runs its recipe in K-fold cross-validation on --data, with its
    two baselines on the same folds."""
    from worker.training.category_evaluate import CATEGORY_FILE, category_evaluation_lines
    from worker.training.category_evaluate import evaluate_category as evaluate
    from worker.training.plot import save_confusion_png
    from worker.training.runtime import open_store, training_settings

    start_logging()
    columns = (text_column, label_column, image_column)
    if (heads / "finetune.json").is_file():  # a model from train ... --fine-tune
        from worker.finetune.evaluate import evaluate_fine_tuned

        with exit_on_error():
            lines = evaluate_fine_tuned(heads, data, text_column, label_column, out=out)
        for line in lines:
            typer.echo(line)
        typer.echo(f"wrote {out}")
        return
    with exit_on_error():
        if not (heads / CATEGORY_FILE).is_file():
            raise ModelError(
                f"{heads} has no {CATEGORY_FILE}: evaluate a heads checkpoint with "
                "`evaluate entailment` or `evaluate bias`"
            )
        with open_store(cache, cache_dir, training_settings(text_encoder)) as store:
            result = evaluate(
                heads, data, columns, store, cv=cv, text_encoder=text_encoder, image_encoder=image_encoder
            )
        picture = save_confusion_png(result.metrics, png or out.with_suffix(".png"), data.name)
        result = result.model_copy(update={"confusion_png": str(picture)})
        write_text(out, result.model_dump_json(indent=2) + "\n")
    for line in category_evaluation_lines(result):
        typer.echo(line)
    typer.echo(f"wrote {out} and {picture}")
