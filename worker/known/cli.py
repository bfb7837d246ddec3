"""``moderation-worker banks``: list the hash banks, add and remove entries.

Example::

    moderation-worker banks list
    moderation-worker banks add demo sample.png 3f2a...e1 --category "test content" --action block
    moderation-worker banks remove demo 3f2a...e1
    moderation-worker banks remove demo --whole

The folder is ``--folder`` or ``MODERATION_KNOWN_BANKS``; running workers reload the
banks within ``MODERATION_KNOWN_RELOAD_S`` of a change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worker.errors import ModerationError
from worker.known.banks import Action, read_manifest

__all__ = ["register"]

banks_app = typer.Typer(no_args_is_help=True, help="List the hash banks, add and remove entries.")

_FOLDER = "Banks folder (default: MODERATION_KNOWN_BANKS)."
_ENTRIES = "Hex PDQ hashes or image files (hashed with PDQ)."


def _folder(folder: Path | None) -> Path:
    if folder is not None:
        return folder
    from worker.config.settings import Settings

    configured = Settings().known_banks
    if configured is None:
        typer.echo("error: give --folder or set MODERATION_KNOWN_BANKS", err=True)
        raise typer.Exit(2)
    return configured


@banks_app.command("list")
def list_banks(folder: Annotated[Path | None, typer.Option(help=_FOLDER)] = None) -> None:
    """Print every bank: name, entries, category, action, file."""
    from worker.known.banks import load_banks

    where = _folder(folder)
    try:
        banks = load_banks(where)
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not banks.specs:
        typer.echo(f"no banks in {where}")
    for spec in banks.specs:
        count = banks.count(spec.name)
        typer.echo(f"{spec.name}\t{count} hashes\t{spec.category}\t{spec.action}\t{spec.file}")


@banks_app.command("add")
def add(
    bank: Annotated[str, typer.Argument(help="Bank name.")],
    entries: Annotated[list[str], typer.Argument(help=_ENTRIES)],
    category: Annotated[str | None, typer.Option(help="What the bank holds; needed to create it.")] = None,
    action: Annotated[Action | None, typer.Option(help="What a match asks for.")] = None,
    folder: Annotated[Path | None, typer.Option(help=_FOLDER)] = None,
) -> None:
    """Add entries to a bank, creating it when --category is given."""
    from worker.known.edit import add_entries

    try:
        added = add_entries(_folder(folder), bank, entries, category, action)
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"added {added} of {len(entries)} to {bank}")


@banks_app.command("remove")
def remove(
    bank: Annotated[str, typer.Argument(help="Bank name.")],
    entries: Annotated[list[str] | None, typer.Argument(help=_ENTRIES)] = None,
    whole: Annotated[bool, typer.Option("--whole", help="Remove the bank itself (its file stays).")] = False,
    folder: Annotated[Path | None, typer.Option(help=_FOLDER)] = None,
) -> None:
    """Remove entries from a bank, or the whole bank with --whole."""
    from worker.known.edit import remove_bank, remove_entries

    if whole == bool(entries):
        typer.echo("error: give entries to remove, or --whole (not both)", err=True)
        raise typer.Exit(2)
    where = _folder(folder)
    try:
        if whole:
            remove_bank(where, bank)
            typer.echo(f"removed bank {bank} ({len(read_manifest(where))} left)")
        else:
            removed = remove_entries(where, bank, entries or [])
            typer.echo(f"removed {removed} of {len(entries or [])} from {bank}")
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def register(app: typer.Typer) -> None:
    """Add the ``banks`` command group to ``app``."""
    app.add_typer(banks_app, name="banks")
