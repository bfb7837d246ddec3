"""The ``moderation-worker`` command line.

Example::

    moderation-worker run                 # consume posts, publish verdicts (settings from MODERATION_*)
    moderation-worker settings --check    # the effective configuration, or what is wrong with it
    moderation-worker replay --help       # audits: replay a topic range, compare verdict sets
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Annotated

import typer
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from worker import __version__
from worker.command_groups import CommandGroup, SetOption
from worker.config.overrides import parse_overrides, validated
from worker.config.settings import Settings, load_settings
from worker.errors import ConfigError, ModerationError
from worker.ops.egress import model_sources, offline_when_local, quiet_telemetry
from worker.ops.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    cls=CommandGroup,
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Streaming content moderation: Kafka posts in, verdicts out. Configured by MODERATION_* "
    "variables: `moderation-worker settings` lists them.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moderation-worker {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Streaming content moderation: Kafka posts in, verdicts out."""
    # Before any library is imported: they read these once (worker.ops.egress).
    quiet_telemetry()
    with contextlib.suppress(Exception):  # a wrong setting is reported by the command itself
        offline_when_local(model_sources(load_settings()))


_FAUST_LEVELS = {"debug": "debug", "info": "info", "warning": "warn", "error": "error"}


@app.command()
def run(set_: SetOption = None) -> None:
    """Consume posts and publish verdicts until stopped (SIGTERM/SIGINT finish in-flight work).

    Configured by MODERATION_* environment variables only: `moderation-worker settings`
    lists them with their defaults, `moderation-worker settings --check` shows what this
    environment gives (docs/configuration.md has the same table).
    """
    # Settings first: a wrong one is reported before torch and faust are imported.
    settings = _settings_or_exit(set_ or [])
    offline_when_local(model_sources(settings))  # again, with --set
    import faust

    from worker.consume.app import build_app
    from worker.model.untrained import warn_untrained
    from worker.startup.load import load_models

    configure_logging(settings.log_level, settings.log_format)
    try:
        loaded = load_models(settings)
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    scorer, shadow = loaded.scorer, loaded.shadow
    logging.getLogger(__name__).info("models loaded: %s", scorer.identity.model_dump_json())
    warn_untrained(scorer.identity.untrained)
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


def _settings_or_exit(overrides: list[str]) -> Settings:
    """This environment's settings with ``--set`` applied, or exit 2 saying what is wrong."""
    try:
        settings = load_settings()
        if overrides:
            settings = validated(dict(settings) | parse_overrides(overrides), "--set")
        return settings
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command("settings")
def settings_command(
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Print this environment's configuration, then check what `run` checks at start "
            "that needs no model weights; one line per problem, exit 1 on any.",
        ),
    ] = False,
    load: Annotated[
        bool,
        typer.Option("--load", help="With --check: also load the models as `run` does (slow)."),
    ] = False,
    set_: SetOption = None,
) -> None:
    """Every setting with its default and meaning (Markdown); --check: this environment's values
    and what is wrong with them."""
    if not check:
        if load or set_:
            typer.echo("error: --load and --set go with --check", err=True)
            raise typer.Exit(2)
        typer.echo(settings_markdown())
        return
    settings = _settings_or_exit(set_ or [])
    given = load_settings().model_fields_set | set(parse_overrides(set_ or []))
    typer.echo(effective_configuration(settings, given))
    from worker.startup.check import check_settings

    report = check_settings(settings)
    problems = list(report.problems)
    loaded = load and not problems
    if loaded:
        from worker.startup.load import load_models

        try:
            load_models(settings)
        except ModerationError as exc:
            problems.append(str(exc))
    typer.echo("")
    for line in problems:
        typer.echo(f"problem: {line}")
    if loaded and not problems:
        typer.echo("loaded: every model, as `run` loads them, and the policy fits their categories")
    elif not loaded:
        for line in report.unchecked:
            typer.echo(f"unchecked: {line} (--load checks it)")
    typer.echo(f"{len(problems)} problem(s): `run` would refuse to start" if problems else "no problem found")
    if problems:
        raise typer.Exit(1)


def effective_configuration(settings: Settings, given: set[str] | None = None) -> str:
    """One line per setting: variable, value (secrets hidden), and whether it was set."""
    given = settings.model_fields_set if given is None else given
    rows = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        shown = "(secret)" if hasattr(value, "get_secret_value") else _plain(value)
        source = "set" if name in given else "default"
        rows.append((Settings.env_name(name), shown, source))
    width = max(len(variable) for variable, _, _ in rows)
    return "\n".join(f"{variable:<{width}}  {shown}  ({source})" for variable, shown, source in rows)


def _plain(value: object) -> str:
    """A value as its variable would spell it: JSON for lists, maps and models."""
    if isinstance(value, tuple | list | dict | BaseModel):
        return json.dumps(to_jsonable_python(value))
    return "" if value is None else str(value)


def settings_markdown() -> str:
    rows = ["| Variable | Default | Description |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if hasattr(default, "get_secret_value"):
            default = "(secret)"
        if isinstance(default, tuple):
            default = list(default)
        description = field.description or ""
        rows.append(f"| `{Settings.env_name(name)}` | `{default}` | {description} |")
    return "\n".join(rows)


def _register_subcommands() -> None:
    # Their heavy imports happen inside the commands, so these registrations are cheap.
    from worker.audit.commands import register as register_audit_commands
    from worker.explain.command import register as register_explain_command
    from worker.known.cli import register as register_bank_commands
    from worker.training.cli import register as register_training_commands

    register_audit_commands(app)
    register_explain_command(app)
    register_bank_commands(app)
    register_training_commands(app)


_register_subcommands()


def main() -> None:
    app(prog_name="moderation-worker")


if __name__ == "__main__":
    main()
