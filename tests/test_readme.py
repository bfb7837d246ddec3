"""The README's and the docs' promises that code can check."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from worker.cli import settings_markdown
from worker.config.classifiers import ClassifierSpec

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").rglob("*.md"))
DOC_FILES = sorted(p for p in (ROOT / "docs").rglob("*") if p.suffix in (".md", ".json"))
#: Folders of the machines this project is developed on, which a user's machine does not have.
MACHINE_FOLDERS = re.compile(r"(?<![\w.])/(?:work|tmp|root|home|opt|mnt|srv|var/tmp)/")


def test_configuration_table_matches_the_settings_class() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    start, end = "<!-- settings:start -->\n", "\n<!-- settings:end -->"
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table == settings_markdown(), "run moderation-worker settings; paste it into docs/configuration.md"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_fits_in_250_lines() -> None:
    assert len(README.splitlines()) <= 250


@pytest.mark.parametrize("path", [ROOT / "README.md", *DOC_FILES], ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_name_no_folder_of_our_machines(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [m.group(0) for m in MACHINE_FOLDERS.finditer(text)]
    assert not found, f"{path.name} names folders of a development machine: {found}"


def test_docs_links_lead_somewhere() -> None:
    for path in [ROOT / "README.md", *DOCS]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            assert (path.parent / target).exists(), f"{path.name} links to a missing {target}"


@pytest.mark.parametrize("path", [ROOT / "README.md", ROOT / "docs" / "categories.md"], ids=lambda p: p.name)
def test_classifier_examples_are_valid_settings(path: Path) -> None:
    """Every MODERATION_CLASSIFIERS='...' example parses as the worker parses it."""
    examples = re.findall(r"MODERATION_CLASSIFIERS='([^']*)'", path.read_text(encoding="utf-8"))
    assert examples
    for example in examples:
        entries = TypeAdapter(list[ClassifierSpec]).validate_json(example)
        assert entries and all(entry.kind for entry in entries)


def _command_lines(text: str) -> list[str]:
    """``moderation-worker ...`` as the README and the docs write it: in ```sh blocks (with
    their ``\\`` continuations and leading ``VAR=value`` assignments) and in inline code."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0]
            if "moderation-worker " in line:
                found.append("moderation-worker " + line.split("moderation-worker ", 1)[1])
    found += re.findall(r"`(moderation-worker [^`]+)`", text)
    return found


@pytest.mark.parametrize("path", [ROOT / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_command_lines_in_the_docs_are_current(path: Path) -> None:
    """Each command line names an existing (sub)command and only options it has: no old
    spelling of `train`/`evaluate`, no option that went away."""
    import shlex

    import typer

    from worker.cli import app

    root = typer.main.get_command(app)
    for line in _command_lines(path.read_text(encoding="utf-8")):
        words = shlex.split(line.replace("...", ""))[1:]
        command: object = root
        while words and words[0] in getattr(command, "commands", {}):
            command = command.commands[words.pop(0)]  # type: ignore[attr-defined]
        if hasattr(command, "commands"):
            assert not words or words[0] in ("-h", "--help"), f"{path.name}: `{line}` names no subcommand"
            continue
        names = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}  # type: ignore[attr-defined]
        names |= {"-h", "--help"}
        unknown = [w.split("=")[0] for w in words if w.startswith("-") and w.split("=")[0] not in names]
        assert not unknown, f"{path.name}: `{line}` uses options the command does not have: {unknown}"
