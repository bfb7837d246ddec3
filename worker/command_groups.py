"""Command groups of the ``moderation-worker`` command line: flags shown as flags, and old
spellings kept working for a release with a one-line deprecation warning.

Example::

    class TrainGroup(CommandGroup):
        def rewrite(self, args):                  # old argv -> (new argv, old spelling) or None
            return legacy_train_args(args)

    train_app = typer.Typer(cls=TrainGroup, help="Train a model, one subcommand per kind.")
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

__all__ = ["CommandGroup", "SetOption", "plain_flags"]

#: ``--set KEY=VALUE``, spelt and explained the same by every command that takes it.
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="A setting for this command only, e.g. bias_threshold=0.7 or "
        "MODERATION_BROKER=kafka://host:9092; repeatable.",
    ),
]


def plain_flags(command: Any, ctx: Any) -> None:
    """Show ``--x/--no-x`` flags without a ``<bool>`` type (Typer prints one for every flag,
    ``--help`` included, which reads as if the flag took a value)."""
    for param in command.get_params(ctx):
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""


class CommandGroup(TyperGroup):
    """A Typer group whose commands show flags as flags and which accepts the old spellings
    its :meth:`rewrite` recognises, saying on stderr what replaces them."""

    def rewrite(self, args: list[str]) -> tuple[list[str], str] | None:
        """``args`` (an old spelling) in the new shape, and the old spelling; ``None``: not old."""
        return None

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            plain_flags(command, ctx)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        plain_flags(self, ctx)
        super().format_help(ctx, formatter)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in (*self.commands, *ctx.help_option_names):
            found = self.rewrite(list(args))
            if found is not None:
                args, old = found
                new = f"{ctx.command_path} {args[0]}"
                typer.echo(
                    f"warning: `{ctx.command_path} {old}` is deprecated and goes in the next "
                    f"release: use `{new} ...` (see `{new} --help`)",
                    err=True,
                )
        return list(super().parse_args(ctx, args))
