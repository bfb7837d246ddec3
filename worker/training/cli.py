"""``moderation-worker train``, ``evaluate`` and ``convert-card``: one subcommand per kind
of model (``entailment``, ``bias``, ``category``), each with its own options.

Added to the main command line by :func:`register`::

    from worker.training.cli import register
    register(app)

    moderation-worker train entailment train_df.csv --val val_df.csv \\
        --text-encoder minilm --image-encoder .models/tiny/image --out .models/heads-minilm
    moderation-worker evaluate entailment --heads .models/heads-minilm --data val_df.csv --out val.json

The spellings from before the subcommands (``train --category ...``, ``train --bias ...``,
``train --entailment ...``, ``evaluate --heads ...``) still work for one release, with a
deprecation line on stderr (:mod:`.legacy_cli`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worker.command_groups import CommandGroup
from worker.errors import ModerationError
from worker.explain.evaluate_command import evaluate_explanations_command
from worker.training.category_commands import evaluate_category, train_category
from worker.training.heads_cli import evaluate_bias, evaluate_entailment, train_bias, train_entailment
from worker.training.legacy_cli import legacy_evaluate_args, legacy_train_args

__all__ = ["convert_card_command", "register"]


class _TrainGroup(CommandGroup):
    def rewrite(self, args: list[str]) -> tuple[list[str], str] | None:
        return legacy_train_args(args)


class _EvaluateGroup(CommandGroup):
    def rewrite(self, args: list[str]) -> tuple[list[str], str] | None:
        return legacy_evaluate_args(args)


def register(app: typer.Typer) -> None:
    """Add the ``train`` and ``evaluate`` groups and the ``convert-card`` command to ``app``."""
    settings = {"help_option_names": ["-h", "--help"]}
    train = typer.Typer(
        cls=_TrainGroup,
        no_args_is_help=True,
        context_settings=settings,
        help="Train a model on labelled CSVs, one subcommand per kind; see docs/training.md and "
        "docs/categories.md.",
    )
    train.command("entailment")(train_entailment)
    train.command("bias")(train_bias)
    train.command("category")(train_category)
    evaluate = typer.Typer(
        cls=_EvaluateGroup,
        no_args_is_help=True,
        context_settings=settings,
        help="Score a trained model on a labelled CSV (macro-F1, per class, confusion matrix), "
        "one subcommand per kind.",
    )
    evaluate.command("entailment")(evaluate_entailment)
    evaluate.command("bias")(evaluate_bias)
    evaluate.command("category")(evaluate_category)
    evaluate.command("explanations")(evaluate_explanations_command)
    app.add_typer(train, name="train")
    app.add_typer(evaluate, name="evaluate")
    app.command("convert-card")(convert_card_command)


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
