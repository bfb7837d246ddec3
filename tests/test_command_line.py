"""The command line's shape: one screen of help per command, help on every option, flags shown
as flags, the same option spelt and explained the same way, and the old spellings of
``train``/``evaluate`` still working for a release with a deprecation line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from worker.cli import app
from worker.training.legacy_cli import legacy_evaluate_args, legacy_train_args

#: Lines a help screen may take (at 80 columns).
SCREEN = 50


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


ALL = list(_commands(typer.main.get_command(app)))


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "(root)")
def test_help_is_one_screen_with_flags_shown_as_flags(path: tuple[str, ...]) -> None:
    text = _help(path)
    assert len(text.splitlines()) <= SCREEN, f"`{' '.join(path)} --help` takes {len(text.splitlines())} lines"
    assert "<bool>" not in text


def test_every_option_and_argument_says_what_it_is_for() -> None:
    silent = [
        f"{' '.join(path)} {param.name}"
        for path, command in ALL
        for param in command.params
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert not silent


def test_train_and_evaluate_have_one_subcommand_per_kind_of_model() -> None:
    commands = dict(ALL)
    assert set(commands[("train",)].commands) == {"entailment", "bias", "category"}
    # and explanations, measured against the experts' words (docs/explanations.md)
    assert set(commands[("evaluate",)].commands) == {"entailment", "bias", "category", "explanations"}


def _options(command: Any) -> dict[str, str]:
    return {param.opts[0]: param.help for param in command.params if param.opts[0].startswith("--")}


@pytest.mark.parametrize("group", ["train", "evaluate"])
def test_an_option_means_the_same_in_every_subcommand(group: str) -> None:
    """Same name, same help; the one exception is where a category head goes by default."""
    seen: dict[str, set[str]] = {}
    for path, command in ALL:
        if path[:-1] == (group,):
            for name, text in _options(command).items():
                seen.setdefault(name, set()).add(text)
    differ = {name: texts for name, texts in seen.items() if len(texts) > 1 and name != "--out"}
    assert not differ


def test_set_is_the_same_option_on_every_command_that_takes_it() -> None:
    found = {path: _options(command).get("--set") for path, command in ALL}
    takers = {path: text for path, text in found.items() if text}
    assert {("run",), ("replay",), ("compare",), ("search",)} <= set(takers)
    assert len(set(takers.values())) == 1


def test_run_applies_set_and_refuses_a_bad_one_before_loading_anything() -> None:
    result = CliRunner().invoke(app, ["run", "--set", "no_such_setting=1"])
    assert result.exit_code == 2
    assert "bad override 'no_such_setting=1'" in result.output
    result = CliRunner().invoke(app, ["run", "--set", "bias_threshold=7"])
    assert result.exit_code == 2 and "bias_threshold" in result.output


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (["--category", "spam", "d.csv", "--cv", "3"], ["category", "spam", "d.csv", "--cv", "3"]),
        (["--category=spam", "d.csv"], ["category", "spam", "d.csv"]),
        (
            ["--entailment", "t.csv", "--val", "v.csv", "--bias", "b.csv", "--out", "o"],
            ["entailment", "t.csv", "--val", "v.csv", "--bias", "b.csv", "--out", "o"],
        ),
        (
            ["--bias", "b.csv", "--bias-val", "v.csv", "--out", "o"],
            ["bias", "b.csv", "--val", "v.csv", "--out", "o"],
        ),
        (["--out", "o"], ["entailment", "--out", "o"]),
        (["entailment", "t.csv"], None),
    ],
)
def test_old_train_spellings_map_onto_the_subcommands(old: list[str], new: list[str] | None) -> None:
    found = legacy_train_args(old)
    assert (found[0] if found else None) == new


def test_old_evaluate_spelling_finds_the_kind_from_the_files(tmp_path: Path) -> None:
    category = tmp_path / "head"
    category.mkdir()
    (category / "category.json").write_text("{}")
    bias = tmp_path / "bias.csv"
    bias.write_text("text,image_url,label\na,,1\n")
    args = ["--heads", str(tmp_path), "--data", str(bias), "--out", "r.json"]
    assert legacy_evaluate_args(args) == (["bias", *args], "--heads DIR --data CSV")
    args = ["--heads", str(category), "--data", str(bias), "--out", "r.json"]
    assert legacy_evaluate_args(args) == (["category", *args], "--heads DIR --data CSV")
    assert legacy_evaluate_args(["bias", *args]) is None


def test_an_old_spelling_runs_the_new_command_with_one_deprecation_line(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,0\nb,1\n")
    # An --inputs the category command refuses while parsing: proof it reached that command.
    result = CliRunner().invoke(
        app, ["train", "--category", "c", str(data), "--inputs", "video"], prog_name="moderation-worker"
    )
    assert result.exit_code == 2 and "Invalid value for '--inputs'" in result.output
    warnings = [line for line in result.stderr.splitlines() if "deprecated" in line]
    assert warnings == [
        "warning: `moderation-worker train --category NAME DATA` is deprecated and goes in the next "
        "release: use `moderation-worker train category ...` (see `moderation-worker train category --help`)"
    ]
    new = CliRunner().invoke(app, ["train", "category", "c", str(data), "--inputs", "video"])
    assert new.exit_code == 2 and "deprecated" not in new.output
