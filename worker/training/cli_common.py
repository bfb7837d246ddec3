"""What every ``train``/``evaluate`` subcommand does the same way: the worker's errors end it
with their message, reports are written or fail clearly, progress is logged.

Example::

    start_logging()
    with exit_on_error():
        write_text(out, report_json)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from worker.errors import ModelError, ModerationError

__all__ = ["exit_on_error", "start_logging", "write_text"]


@contextmanager
def exit_on_error() -> Iterator[None]:
    """The worker's own errors end the command with their message and status 1."""
    try:
        yield
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def write_text(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot write {path}: {exc}") from exc


def start_logging() -> None:
    """Long runs print where they are (encoding, folds, epochs) on stderr."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
