"""The ``moderation-worker`` command line.

Example::

    moderation-worker run            # consume posts, publish verdicts (settings from MODERATION_*)
    moderation-worker demo           # everything embedded, verdicts printed
    moderation-worker schemas --check
"""

from __future__ import annotations

import logging

import typer
from pydantic import ValidationError

from worker.config.settings import Settings
from worker.errors import ModerationError
from worker.ops.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.split("\n")[0])

_FAUST_LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "error": "error"}


@app.command()
def run() -> None:
    """Consume posts and publish verdicts until stopped (SIGTERM/SIGINT finish in-flight work)."""
    import faust

    from worker.consume.app import build_app
    from worker.model import ModerationModel
    from worker.model.untrained import warn_untrained
    from worker.shadow import shadow_settings
    from worker.verdicts.policy import check_policy

    settings = _settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    try:
        scorer = ModerationModel.load(settings)
        check_policy(settings, scorer.category_names)
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    logging.getLogger(__name__).info("models loaded: %s", scorer.identity.model_dump_json())
    warn_untrained(scorer.identity.untrained)
    shadow = None
    try:
        candidate_settings = shadow_settings(settings)
        if candidate_settings is not None:
            shadow = (candidate_settings, ModerationModel.load(candidate_settings))
    except ModerationError as exc:
        typer.echo(f"error: shadow model: {exc}", err=True)
        raise typer.Exit(1) from exc
    if shadow is not None:
        logging.getLogger(__name__).info("shadow model loaded: %s", shadow[1].identity.model_dump_json())
        warn_untrained(shadow[1].identity.untrained, "shadow model")
    faust_app, _ = build_app(settings, scorer, shadow)
    worker = faust.Worker(
        faust_app,
        loglevel=_FAUST_LEVELS[settings.log_level],
        quiet=True,
        redirect_stdouts=False,
        override_logging=False,  # keep our one-line-per-event format
    )
    worker.spinner = None  # a terminal spinner would put escape codes into the logs
    worker.execute_from_commandline()


def _settings_or_exit() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{Settings.env_name(str(e['loc'][0]))}: {e['msg']}" if e["loc"] else e["msg"]
            for e in exc.errors()
        )
        typer.echo(f"error: invalid settings: {problems}", err=True)
        raise typer.Exit(2) from exc


@app.command("settings")
def settings_table() -> None:
    """Print every setting as a Markdown table (the README's configuration table)."""
    typer.echo(settings_markdown())


def settings_markdown() -> str:
    rows = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if hasattr(default, "get_secret_value"):
            default = "(secret)"
        if isinstance(default, tuple):
            default = list(default)
        description = (field.description or "").rsplit(" (MODERATION_", 1)[0]
        rows.append(f"| `{Settings.env_name(name)}` | `{default}` | {description} |")
    return "\n".join(rows)


def _register_subcommands() -> None:
    # Their heavy imports happen inside the commands, so these registrations are cheap.
    from worker.audit.cli import register as register_audit_commands
    from worker.training.cli import register as register_training_commands

    register_audit_commands(app)
    register_training_commands(app)


_register_subcommands()


def main() -> None:
    app(prog_name="moderation-worker")


if __name__ == "__main__":
    main()
