"""The replay command refuses what it cannot do before it loads a model or meets a broker."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from worker.audit.commands import register


def app() -> typer.Typer:
    fresh = typer.Typer()
    register(fresh)
    return fresh


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app(), list(args), env={"MODERATION_BROKER": "kafka://127.0.0.1:1"})
    return result.exit_code, result.output


def test_the_commands_are_registered() -> None:
    code, output = invoke("--help")
    assert code == 0 and "replay" in output and "compare" in output


@pytest.mark.parametrize("outputs", [[], ["--out", "a.jsonl", "--to-topic", "audit"]])
def test_exactly_one_output(outputs: list[str]) -> None:
    code, output = invoke("replay", *outputs)
    assert code == 2 and "exactly one of --out" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--offsets", "0:9-3"], "start is after end"),
        (["--from", "yesterday"], "RFC 3339"),
        (["--from", "2026-11-21T00:00:00Z", "--to", "2026-11-20T00:00:00Z"], "earlier"),
        (["--offsets", "0:1-2", "--from", "2026-11-20T00:00:00Z"], "not both"),
        (["--set", "bias_threshold=7"], "bias_threshold"),
        (["--set", "nonsense"], "SETTING=VALUE"),
    ],
)
def test_bad_ranges_and_settings_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    code, output = invoke("replay", "--out", str(tmp_path / "a.jsonl"), *args)
    assert code == 1 and message in output
    assert not (tmp_path / "a.jsonl").exists()


def test_a_missing_model_folder_is_refused(tmp_path: Path) -> None:
    code, output = invoke("replay", "--out", str(tmp_path / "a.jsonl"), "--model-dir", str(tmp_path))
    assert code == 1 and "text or image" in output
