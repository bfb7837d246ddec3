"""Reading the settings: derived variable names, one-line errors, rules across fields, views."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from worker.cli import app
from worker.config.settings import Settings, load_settings, unknown_variables
from worker.config.views import FetchConfig
from worker.errors import ConfigError


def test_a_misspelt_variable_is_refused_naming_the_closest_real_one() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"MODERATION_MAXBATCH": "4"})
    assert str(caught.value) == "unknown setting MODERATION_MAXBATCH; did you mean MODERATION_MAX_BATCH?"


def test_a_variable_far_from_every_setting_points_to_the_list() -> None:
    [line] = unknown_variables({"MODERATION_ZZZ_QQQ": "1", "MODERATION_MAX_BATCH": "4", "PATH": "/bin"})
    assert line.startswith("unknown setting MODERATION_ZZZ_QQQ;") and "moderation-worker settings" in line


def test_values_are_read_from_the_given_environment() -> None:
    settings = load_settings(
        {
            "MODERATION_MAX_BATCH": "4",
            "MODERATION_CLIP_LABELS": '["a", "b"]',
            "MODERATION_CLIP_FLAG_LABELS": '["a"]',
        }
    )
    assert settings.max_batch == 4 and settings.clip_labels == ("a", "b")


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MODERATION_CLIP_LABELS": '["a"'}, "MODERATION_CLIP_LABELS: expected a JSON list"),
        ({"MODERATION_MAX_BATCH": "many"}, "MODERATION_MAX_BATCH: Input should be a valid integer"),
        ({"MODERATION_BIAS_THRESHOLD": "1.5"}, "MODERATION_BIAS_THRESHOLD: Input should be less than"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fetch_per_host": 40}, "MODERATION_FETCH_PER_HOST cannot exceed MODERATION_FETCH_CONCURRENCY"),
        ({"heartbeat_interval_s": 30}, "MODERATION_HEARTBEAT_INTERVAL_S must be below"),
        ({"max_text_tokens": 9000}, "MODERATION_MAX_TEXT_TOKENS cannot exceed MODERATION_MAX_BATCH_TOKENS"),
        ({"shadow_settings": '["bias_threshold=0.7"]'}, "MODERATION_SHADOW_SETTINGS need"),
    ],
)
def test_rules_across_fields_are_checked_at_start(values: dict[str, object], message: str) -> None:
    environ = {Settings.env_name(name): str(value) for name, value in values.items()}
    with pytest.raises(ConfigError, match=message):
        load_settings(environ)


def test_descriptions_do_not_spell_the_variable_names() -> None:
    """The names are derived (Settings.env_name); a hand-typed copy would drift."""
    assert not [name for name, f in Settings.model_fields.items() if "MODERATION_" in (f.description or "")]
    assert all(f.description for f in Settings.model_fields.values())


def test_views_copy_fields_of_the_same_name_and_default() -> None:
    settings = Settings(fetch_per_host=3, decode_min_side=0)
    assert settings.fetch == dataclasses.replace(FetchConfig(), fetch_per_host=3, decode_min_side=0)
    for field in dataclasses.fields(FetchConfig):
        assert Settings.model_fields[field.name].default == field.default, field.name


def test_settings_check_prints_the_effective_configuration_with_secrets_hidden() -> None:
    env = {"MODERATION_MAX_BATCH": "4", "MODERATION_REDIS_URL": "redis://:hunter2@cache:6379/0"}
    result = CliRunner().invoke(app, ["settings", "--check"], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.split("\n\n")[0].splitlines()}
    assert lines["MODERATION_MAX_BATCH"].split()[1:] == ["4", "(set)"]
    assert lines["MODERATION_MAX_WAIT_MS"].split()[1:] == ["0.0", "(default)"]
    assert "hunter2" not in result.output and "(secret)" in lines["MODERATION_REDIS_URL"]


def test_run_refuses_a_typo_in_one_line_before_importing_torch() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}
    env["MODERATION_MAXBATCH"] = "4"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "worker.cli", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    messages = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    assert messages == ["error: unknown setting MODERATION_MAXBATCH; did you mean MODERATION_MAX_BATCH?"]
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert not {"torch", "transformers", "faust"} & imported


def test_version_and_short_help() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["--version"]).output.strip().startswith("moderation-worker ")
    short = runner.invoke(app, ["-h"])
    assert short.exit_code == 0 and "settings" in short.output
    assert "moderation-worker settings" in runner.invoke(app, ["run", "-h"]).output
