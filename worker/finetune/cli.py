"""The fine-tuning command: options, then :func:`worker.finetune.run.run_fine_tune`.

``moderation-worker train category NAME data.csv --fine-tune`` and ``train bias data.csv
--fine-tune`` call :func:`fine_tune_main`; ``python -m worker.finetune`` runs it alone.

Example::

    python -m worker.finetune train.csv --text-column tweet --label-column class \\
        --labels "0=hate,1=offensive,2=" --out .models/hate-finetuned --name hate_offensive
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from worker.errors import ModelError, validation_problems

__all__ = ["FineTune", "FineTuneSet", "Threads", "ThresholdTarget", "app", "fine_tune_main", "from_command"]

app = typer.Typer(add_completion=False)

FineTune = Annotated[
    bool,
    typer.Option(
        "--fine-tune",
        help="Fine-tune the text encoder with a linear head.",
    ),
]
FineTuneSet = Annotated[
    list[str] | None,
    typer.Option(
        "--fine-tune-set",
        help="Recipe FIELD=VALUE for --fine-tune.",
        show_default=False,
    ),
]
Threads = Annotated[int, typer.Option(help="Fine-tune threads (0: torch's).")]
ThresholdTarget = Annotated[str, typer.Option(help='Threshold per category: "f1" or "precision:P".')]


def _recipe_overrides(pairs: list[str] | None) -> dict[str, object]:
    found: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ModelError(f"--fine-tune-set {pair!r}: write FIELD=VALUE, e.g. epochs=3")
        found[key.strip().replace("-", "_")] = value.strip()
    return found


def from_command(
    name: str,
    data: Path,
    out: Path,
    columns: tuple[str, str, str],
    text_encoder: str | None,
    recipe_set: list[str] | None,
    *,
    threads: int = 0,
    threshold_target: str = "f1",
    baselines: bool = True,
) -> list[str]:
    """``train category NAME DATA --fine-tune`` / ``train bias DATA --fine-tune``.
    ``columns``: text column, label column, labels (``"1=bias,0="``)."""
    options = _recipe_overrides(recipe_set)
    if text_encoder and text_encoder != "minilm":
        options.setdefault("encoder", text_encoder)
    return fine_tune_main(
        data,
        text_column=columns[0],
        label_column=columns[1],
        labels=columns[2],
        out=out,
        name=name,
        recipe_options=options,
        baselines=baselines,
        threads=threads,
        threshold_target=threshold_target,
    )


def fine_tune_main(
    csv_path: Path,
    *,
    text_column: str,
    label_column: str,
    labels: str,
    out: Path,
    name: str,
    recipe_options: dict[str, object],
    baselines: bool = True,
    threads: int = 0,
    checkpoint_s: float = 120.0,
    onnx: bool = True,
    threshold_target: str = "f1",
) -> list[str]:
    """Run and export; returns the report's lines."""
    from worker.finetune.recipe import FineTuneRecipe, default_encoder
    from worker.finetune.run import FineTuneJob, run_fine_tune
    from worker.training.category_cli import parse_labels

    options = {k: v for k, v in recipe_options.items() if v is not None}
    options.setdefault("encoder", default_encoder())
    try:
        recipe = FineTuneRecipe.model_validate(options)
    except ValidationError as exc:
        raise ModelError(f"bad fine-tuning options: {validation_problems(exc)}") from exc
    job = FineTuneJob(
        csv_path,
        text_column,
        label_column,
        parse_labels(labels),
        out,
        name,
        baselines=baselines,
        checkpoint_s=checkpoint_s,
        threads=threads,
        threshold_target=threshold_target,
    )
    lines = run_fine_tune(job, recipe)
    if onnx:
        from worker.finetune.export import export_onnx

        lines += export_onnx(out)
    return lines


@app.command()
def main(
    csv_path: Annotated[Path, typer.Argument(help="Labelled CSV.")],
    out: Annotated[Path, typer.Option(help="Folder the model (and its checkpoints) go to.")],
    text_column: Annotated[str, typer.Option()] = "text",
    label_column: Annotated[str, typer.Option()] = "label",
    labels: Annotated[str, typer.Option(help='"0=hate,1=offensive,2=": label -> category ("" none).')] = "",
    name: Annotated[str, typer.Option(help="The model's name (its part name when served).")] = "finetuned",
    encoder: Annotated[
        str | None, typer.Option(help="HF encoder folder or id (default: packaged MiniLM).")
    ] = None,
    epochs: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr")] = None,
    max_tokens: Annotated[int | None, typer.Option()] = None,
    class_weight_power: Annotated[float | None, typer.Option(help="0.5: sqrt inverse frequency.")] = None,
    loss: Annotated[str | None, typer.Option(help="cross_entropy or focal.")] = None,
    patience: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    baselines: Annotated[bool, typer.Option(help="TF-IDF and frozen features on the same split.")] = True,
    onnx: Annotated[bool, typer.Option(help="Export ONNX (fp32 and int8 where it agrees).")] = True,
    threads: Annotated[int, typer.Option(help="torch threads (0: torch's default).")] = 0,
) -> None:
    """Fine-tune an encoder + head under the declared protocol (stratified 80/20, seed 0)."""
    try:
        lines = fine_tune_main(
            csv_path,
            text_column=text_column,
            label_column=label_column,
            labels=labels,
            out=out,
            name=name,
            recipe_options={
                "encoder": encoder,
                "epochs": epochs,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "max_tokens": max_tokens,
                "class_weight_power": class_weight_power,
                "loss": loss,
                "patience": patience,
                "seed": seed,
            },
            baselines=baselines,
            threads=threads,
            onnx=onnx,
        )
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo("\n".join(lines))
