"""``moderation-worker replay`` and ``compare``: audits answered from Kafka itself.

Example::

    moderation-worker replay --from 2026-11-20T00:00:00Z --to 2026-11-21T00:00:00Z --out audit.jsonl
    moderation-worker replay --offsets 0:100-200 --model-dir models/candidate --out candidate.jsonl
    moderation-worker compare topic:verdicts candidate.jsonl --plot compare.png
    moderation-worker search "a burning car" --from 2026-11-20T00:00:00Z --sheet cars.html

``register(app)`` adds the commands to a Typer app (the main CLI calls it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from worker.command_groups import SetOption
from worker.config.settings import Settings, load_settings
from worker.errors import ConfigError, ModerationError

__all__ = ["register"]

_OUT = "JSONL file for the verdicts; dead letters go to NAME.dlq.jsonl."
_TO_TOPIC = "Audit topic for the verdicts (created if missing); dead letters go to TOPIC.dlq."
_OFFSETS = "[PARTITION:]START-END, END exclusive, either bound optional; repeatable."
_MODEL_DIR = "Folder with text/, image/ and optional clip/, heads/ to score with."


def _console() -> Console:
    return Console(width=max(Console().width, 140))


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def replay(
    out: Annotated[Path | None, typer.Option("--out", help=_OUT)] = None,
    to_topic: Annotated[str | None, typer.Option("--to-topic", help=_TO_TOPIC)] = None,
    topic: Annotated[
        str | None, typer.Option(help="Topic to replay (default: MODERATION_POSTS_TOPIC).")
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option("--partition", "-p", help="Only this partition; repeatable.")
    ] = None,
    offsets: Annotated[list[str] | None, typer.Option("--offsets", help=_OFFSETS)] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="From this time on (RFC 3339 or epoch ms).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Up to, not including, this time.")] = None,
    model_dir: Annotated[Path | None, typer.Option(help=_MODEL_DIR)] = None,
    set_: SetOption = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar (on stderr).")] = True,
) -> None:
    """Re-score a range of posts (by offsets, by time, or the whole log) into a JSONL file or an audit topic.

    Reads outside any consumer group and commits nothing; the live worker is not touched.
    """
    if (out is None) == (to_topic is None):
        typer.echo("error: give exactly one of --out FILE or --to-topic TOPIC", err=True)
        raise typer.Exit(2)
    from worker.audit.replay.command import ReplayArgs, replay_command

    args = ReplayArgs(
        out, to_topic, topic, partition or [], offsets or [], from_, to, model_dir, set_ or [], progress
    )
    try:
        replay_command(_settings(), args, _console())
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def compare(
    left: Annotated[str, typer.Argument(help="JSONL file of verdicts, or topic:NAME for a whole topic.")],
    right: Annotated[str, typer.Argument(help="The other verdict set, the same way.")],
    plot: Annotated[Path, typer.Option(help="Where to write the PNG plot.")] = Path("compare.png"),
    examples: Annotated[int, typer.Option(min=0, help="Example posts shown per label flip.")] = 5,
    set_: SetOption = None,
) -> None:
    """Compare two verdict sets over the same posts: agreement per head, label flips, score differences."""
    from worker.audit.replay.command import compare_command

    try:
        compare_command(_settings(), left, right, plot, examples, set_ or [], _console())
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def search(
    query: Annotated[str | None, typer.Argument(help="What the images should show, in words.")] = None,
    like: Annotated[Path | None, typer.Option(help="Rank by similarity to this image instead.")] = None,
    verdicts: Annotated[
        str | None, typer.Option(help="A replay's JSONL file, or topic:NAME (default: the verdicts topic).")
    ] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Posts read from this time on.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Up to, not including, this time.")] = None,
    top: Annotated[int, typer.Option(min=1, help="How many images to list.")] = 20,
    sheet: Annotated[Path, typer.Option(help="Where to write the HTML contact sheet.")] = Path("search.html"),
    set_: SetOption = None,
) -> None:
    """Rank the images of a time range or a replay by CLIP similarity to a text or to --like IMAGE."""
    from worker.audit.search_command import SearchArgs, search_command

    args = SearchArgs(query, like, verdicts, from_, to, top, sheet, set_ or [])
    try:
        search_command(_settings(), args, _console())
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    """Add ``replay``, ``compare`` and ``search`` to ``app``."""
    app.command("replay")(replay)
    app.command("compare")(compare)
    app.command("search")(search)
