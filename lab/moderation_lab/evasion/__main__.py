"""``python -m moderation_lab.evasion``: the evasion benchmark of the category heads.

Reads a labelled CSV, takes the declared split (stratified 80/20, seed 0), trains the
TF-IDF recipe ``make demo`` ships on the 80%, with and without the text normaliser
(or scores the heads given with ``--head``), and scores each on the held-out 20%,
clean and under every perturbation family, printing per family macro-F1, the share
of positives flagged and the false-flag rate beside the clean figures.

Example::

    python -m moderation_lab.evasion --data hate-offensive/train.csv --out .models/evasion
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Annotated[Path, typer.Option(help="Labelled CSV (the hate-offensive tweets' train.csv).")],
    out: Annotated[Path, typer.Option(help="Folder for the trained heads and results.json.")] = Path(
        ".models/evasion"
    ),
    head: Annotated[
        list[Path] | None, typer.Option(help="Score these TF-IDF heads instead of training the two.")
    ] = None,
    text_column: Annotated[str, typer.Option(help="Column of the texts.")] = "tweet",
    label_column: Annotated[str, typer.Option(help="Column of the labels.")] = "class",
    labels: Annotated[
        str, typer.Option(help="LABEL=CATEGORY,... (empty: no category).")
    ] = "0=hate,1=offensive,2=",
    seed: Annotated[int, typer.Option(help="Seed of the perturbations' random positions.")] = 0,
) -> None:
    """Score category heads on held-out rows, clean and under each perturbation."""
    from moderation_lab.evasion.heads import part, train_heads
    from moderation_lab.evasion.run import run_suite, table_lines
    from worker.model.category_head import CategoryHead
    from worker.text.normalise import NORMALISER_ID
    from worker.training.category_cli import parse_labels, read_category_csv
    from worker.training.splits import holdout_split

    rows = read_category_csv(data, text_column, label_column)
    split = holdout_split(rows.labels)
    typer.echo(f"split: {json.dumps(split.describe())}")
    folders = (
        {p.name: p for p in head} if head else train_heads(rows, split, parse_labels(labels), out, typer.echo)
    )
    loaded = {name: CategoryHead.load(folder, {}) for name, folder in folders.items()}
    held_out = part(rows, [int(i) for i in split.test])
    results = run_suite(loaded, held_out.texts, held_out.labels, typer.echo, seed)
    for name, figures in results.items():
        reads = loaded[name].config.normaliser or "the text as written"
        typer.echo(f"\nhead {name!r} (reads {reads}), {len(held_out.texts)} held-out rows:")
        typer.echo("\n".join(table_lines(figures)))
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "split": split.describe(),
        "normaliser": NORMALISER_ID,
        "seed": seed,
        "results": {name: {family: asdict(f) for family, f in r.items()} for name, r in results.items()},
    }
    (out / "results.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    typer.echo(f"\nwritten: {out / 'results.json'}")


if __name__ == "__main__":
    app()
