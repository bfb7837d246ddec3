"""``moderation-lab``: the demo, the replay demo, tiny test models and the schema files.

Example::

    moderation-lab demo                 # broker, Redis, image server and a worker; verdicts printed
    moderation-lab replay-demo          # the demo's topics replayed by time and by offsets, compared
    moderation-lab tiny-models .models/tiny
    moderation-lab schemas --check      # schemas/ matches the worker's message classes
    moderation-lab dashboard --check    # the Grafana dashboard JSON matches its builder

Benchmarks and fault scenarios run as ``python -m moderation_lab.bench`` and
``python -m moderation_lab.reliability``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])


@app.command()
def demo(
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder with multimodal-entailment/ CSVs (real tweets).")
    ] = None,
    posts: Annotated[int, typer.Option(help="Posts to produce.")] = 40,
    models_dir: Annotated[Path, typer.Option(help="Where the tiny demo models live.")] = Path(".models/tiny"),
) -> None:
    """Start broker, Redis, an image server and a worker; produce posts; print verdicts."""
    from moderation_lab.demo.run import run_demo

    raise typer.Exit(run_demo(data_dir=data_dir, n_posts=posts, models_dir=models_dir))


@app.command("replay-demo")
def replay_demo(
    posts: Annotated[int, typer.Option(help="Posts to produce.")] = 40,
    data_dir: Annotated[Path | None, typer.Option(help="Folder with multimodal-entailment/ CSVs.")] = None,
    models_dir: Annotated[Path, typer.Option(help="Where the tiny demo models live.")] = Path(".models/tiny"),
) -> None:
    """Live worker, then replays by time and by offsets (twice each) and compare, all embedded."""
    from moderation_lab.demo.replay import run_replay_demo

    raise typer.Exit(run_replay_demo(data_dir, posts, models_dir))


@app.command()
def schemas(
    check: Annotated[bool, typer.Option("--check", help="Fail if schemas/ is out of date.")] = False,
) -> None:
    """Write (or check) the JSON Schemas in schemas/ from the message classes."""
    from moderation_lab.schemas import SCHEMAS, render, schema_dir, write_all

    if not check:
        for path in write_all():
            typer.echo(f"wrote {path}")
        return
    stale = [
        name
        for name in SCHEMAS
        if not (schema_dir() / name).exists()
        or (schema_dir() / name).read_text(encoding="utf-8") != render(name)
    ]
    if stale:
        typer.echo(f"out of date: {', '.join(stale)} (run: moderation-lab schemas)", err=True)
        raise typer.Exit(1)
    typer.echo("schemas are up to date")


@app.command()
def dashboard(
    check: Annotated[bool, typer.Option("--check", help="Fail if the JSON is out of date.")] = False,
) -> None:
    """Write (or check) deploy/grafana/moderation-worker.json, built with grafana-foundation-sdk."""
    from moderation_lab.dashboard import dashboard_path, render

    path = dashboard_path()
    if not check:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8")
        typer.echo(f"wrote {path}")
        return
    if not path.exists() or path.read_text(encoding="utf-8") != render():
        typer.echo(f"out of date: {path} (run: moderation-lab dashboard)", err=True)
        raise typer.Exit(1)
    typer.echo("dashboard is up to date")


@app.command("tiny-models")
def tiny_models(dest: Path) -> None:
    """Build tiny BERT, ResNet and CLIP models (random weights) for tests and the demo."""
    from moderation_lab.tiny_models import build_tiny_models

    for name, path in build_tiny_models(dest).items():
        typer.echo(f"{name}: {path}")


def main() -> None:
    app(prog_name="moderation-lab")


if __name__ == "__main__":
    main()
