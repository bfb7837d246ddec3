"""The README's promises that code can check."""

from __future__ import annotations

from pathlib import Path

from worker.cli import settings_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_configuration_table_matches_the_settings_class() -> None:
    start, end = "<!-- settings:start -->\n", "\n<!-- settings:end -->"
    table = README.split(start, 1)[1].split(end, 1)[0]
    assert table == settings_markdown(), "run: moderation-worker settings, and paste into README.md"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
