"""The alert rules and the Prometheus config, checked and unit-tested by Prometheus's own
``promtool`` (Debian's ``prometheus`` package; ``make test`` installs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import _unavailable

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = Path(__file__).with_name("alerts_test.yml")
RUNBOOK = ROOT / "docs" / "operations.md"


def promtool(*args: str) -> str:
    binary = shutil.which("promtool")
    if binary is None:
        _unavailable("promtool", FileNotFoundError("install Debian's prometheus package (make prometheus)"))
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def alert_names() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"]]


def test_promtool_checks_the_rules() -> None:
    assert f"SUCCESS: {len(alert_names())} rules found" in promtool("check", "rules", str(RULES))


def test_promtool_checks_the_compose_config_and_its_rule_file() -> None:
    out = promtool("check", "config", str(ROOT / "deploy" / "prometheus" / "prometheus.yml"))
    assert "SUCCESS: 1 rule files found" in out


def test_promtool_runs_the_rule_unit_tests() -> None:
    assert "SUCCESS" in promtool("test", "rules", str(RULE_TESTS))


def test_every_alert_is_unit_tested_firing() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    assert fired == set(alert_names())


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_a_runbook(name: str) -> None:
    docs = RUNBOOK.read_text()
    assert f"### {name}\n" in docs
    rule = next(
        r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if r["alert"] == name
    )
    assert rule["annotations"]["runbook"] == f"docs/operations.md#{name.lower()}"
