"""The command that measures explanations on a media-bias style file (see :mod:`.evaluate`).

Example::

    moderation-worker evaluate explanations media-bias.csv --with-encoder minilm --out explain.json
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from worker.errors import ModerationError
from worker.training.cli_options import CACHE_DIR, CacheDir

__all__ = ["evaluate_explanations_command"]

_DATA = "CSV with text, label (1: biased) and biased_words (a list of the experts' words) columns."


def evaluate_explanations_command(
    data: Annotated[Path, typer.Argument(help=_DATA)],
    with_encoder: Annotated[
        str | None,
        typer.Option(
            help="Also measure a head on this text encoder's features (hub id, folder or 'minilm')."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the report as JSON here.")] = None,
    cache_dir: CacheDir = CACHE_DIR,
    draws: Annotated[int, typer.Option(help="Random-baseline draws averaged.")] = 5,
    limit: Annotated[int | None, typer.Option(help="Only the first N texts of the evaluation set.")] = None,
    test: Annotated[
        Path | None,
        typer.Option(help="A held-out file of the same columns: train on all of DATA, explain it."),
    ] = None,
) -> None:
    """Plausibility (token AUPRC and top-k F1 against the experts' words) and faithfulness
    (comprehensiveness, sufficiency) of each explanation method, on the declared split's held-out
    part (stratified 80/20, seed 0), beside random words and the TF-IDF head's weights."""
    from worker.explain.evaluate import evaluate_explanations, report_lines
    from worker.training.category_cli import category_model
    from worker.training.store import FileStore

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        model = None
        if with_encoder is not None:
            model = category_model(with_encoder, None, "auto", "strip")  # images: not read here
        report = evaluate_explanations(
            data, model, FileStore(cache_dir), draws=draws, limit=limit, test_path=test
        )
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo("\n".join(report_lines(report)))
    if out is not None:
        out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
