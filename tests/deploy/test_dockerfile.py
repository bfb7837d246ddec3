"""The Dockerfile and the Prometheus config, checked the way hadolint and promtool would
check the parts that matter here (no Docker engine or promtool on these machines)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_base_image_is_pinned_and_not_latest() -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert froms and all(":" in image and not image.endswith(":latest") for image in froms)  # DL3006/7


def test_runs_as_an_unprivileged_user() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users and users[-1] not in {"root", "0"}  # DL3002


def test_no_remote_add_and_exec_form_command() -> None:
    assert not any(keyword == "ADD" for keyword, _ in instructions())  # DL3020
    [command] = [args for keyword, args in instructions() if keyword == "CMD"]
    assert json.loads(command) == ["moderation-worker", "run"]  # DL3025: JSON form gets signals


def test_pip_keeps_no_cache_and_pins_match_the_project() -> None:
    assert "PIP_NO_CACHE_DIR=1" in DOCKERFILE  # DL3042
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for pin in ("torch==2.13.0", "torchvision==0.28.0"):
        assert pin in dependencies and pin in DOCKERFILE


def test_exposes_the_port_compose_and_prometheus_use() -> None:
    port = COMPOSE["services"]["worker"]["environment"]["MODERATION_WEB_PORT"]
    assert any(keyword == "EXPOSE" and args == port for keyword, args in instructions())
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and str(sd["port"]) == port


def test_compose_mounts_the_prometheus_config_and_keeps_its_data() -> None:
    service = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in service["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in service["volumes"]
    assert "prometheus-data" in COMPOSE["volumes"]
    assert not service["image"].endswith(":latest")
