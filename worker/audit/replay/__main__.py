"""``python -m worker.audit.replay replay|compare ...``: the audit commands on their own."""

from __future__ import annotations

import typer

from worker.audit.commands import register

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Replay topics and compare verdict sets.")
register(app)

if __name__ == "__main__":
    app(prog_name="moderation-worker")
