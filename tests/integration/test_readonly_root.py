"""The worker started as deploy/kubernetes/deployment.yaml starts it: a read-only root
file system with only the manifest's emptyDir volumes writable and its claimed volumes
(trained categories, hash banks) empty and read only, the image's environment
(the Dockerfile's baked stage) and the manifest's (ConfigMap, Secret, container env), the
init container first. It must become ready, and load the ONNX files exported at image
build time rather than export them again.

Tests run as root, so the read-only root is a real one: a mount namespace and a chroot
into this machine's file system remounted read-only
(:mod:`moderation_lab.embedded.readonly_root`); root gets EROFS there too. The control
case, the manifest without its ONNX cache volume, shows it: the worker exits 1 with the
error the issue reported.

Changed from the manifest, and why: the broker and Redis URLs (the stack's), the web
port (a free one: tests share the machine), the embedded broker's group timings; the
image's models are the stack's tiny ones, shown read-only where the baked image holds
its models, and there are no trained heads (``MODERATION_HEADS`` unset).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from moderation_lab.embedded.kafka_io import create_topics
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.readonly_root import ReadOnlyRoot, sandbox_available
from moderation_lab.embedded.stack import EmbeddedStack

from tests.conftest import _unavailable
from tests.deploy.test_dockerfile import stage
from tests.integration.test_operations import wait_ready
from worker.config.settings import Settings
from worker.model.onnx_bake import bake

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
VENV_BIN = Path(sys.executable).parent
#: The baked image's user, as its home and WORKDIR: folders of the image, read-only.
HOME, WORKDIR = "/home/moderation", "/app"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((MANIFESTS / name).read_text())
    return loaded


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = _load("deployment.yaml")["spec"]["template"]["spec"]
    return spec


def image_env() -> dict[str, str]:
    """The ENV of the Dockerfile's base and baked stages, as the baked image has them."""
    env: dict[str, str] = {}
    for name in ("base", "models-baked"):
        for keyword, args in stage(name):
            if keyword == "ENV":
                env.update(pair.split("=", 1) for pair in args.split())
    return env


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """What the manifest gives a container: its envFrom ConfigMap and Secret, then env."""
    sources = {
        "configMapRef": _load("configmap.yaml")["data"],
        "secretRef": _load("secret.yaml")["stringData"],
    }
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        [(kind, _)] = [(k, v) for k, v in source.items() if k in sources]
        env.update(sources[kind])
    env.update({item["name"]: item["value"] for item in container.get("env", []) if "value" in item})
    return env


def volume_paths(spec: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Mount paths of the emptyDir volumes (writable) and of the claimed ones, mounted
    read only and, as first provisioned, empty; each volume at one path everywhere."""
    kinds = {v["name"]: "emptyDir" if "emptyDir" in v else "claim" for v in spec["volumes"]}
    assert all("emptyDir" in v or "persistentVolumeClaim" in v for v in spec["volumes"]), "not modelled here"
    paths: dict[str, str] = {}
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]
        for mount in container.get("volumeMounts", []):
            assert kinds[mount["name"]] == "emptyDir" or mount.get("readOnly"), mount
            assert paths.setdefault(mount["name"], mount["mountPath"]) == mount["mountPath"]
    writable = tuple(path for name, path in paths.items() if kinds[name] == "emptyDir")
    return writable, tuple(path for name, path in paths.items() if kinds[name] == "claim")


def command(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


@pytest.fixture(scope="module")
def sandbox_ok() -> None:
    why = sandbox_available()
    if why is not None:
        _unavailable("read-only root sandbox", RuntimeError(why))


@pytest.fixture(scope="module")
def baked_onnx(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the image build exports (``python -m worker.model.onnx_bake``), for the stack's models."""
    folder = tmp_path_factory.mktemp("baked-onnx")
    models = stack.models
    settings = Settings(
        text_encoder=str(models["text"]), image_encoder=str(models["image"]), clip_model=str(models["clip"])
    )
    assert bake(settings, folder), "nothing exported"
    return folder


def start_as_deployed(
    stack: EmbeddedStack, workdir: Path, onnx: Path, *, with_cache_volume: bool = True
) -> tuple[ChildProcess, int]:
    spec = pod()
    [worker] = spec["containers"]
    inits = spec.get("initContainers", [])
    env = {**image_env(), **container_env(worker)}
    writable, claimed = volume_paths(spec)
    empty_volumes = {path: workdir / "volumes" / path.strip("/").replace("/", "-") for path in claimed}
    for folder in empty_volumes.values():
        folder.mkdir(parents=True)
    cache = env["MODERATION_ONNX_CACHE_DIR"]
    if not with_cache_volume:  # the manifest before the fix: no cache volume, no cache setting
        inits, writable = [], tuple(p for p in writable if p != cache)
        env.pop("MODERATION_ONNX_CACHE_DIR")
    env.pop("MODERATION_HEADS", None)
    port = free_port()
    env |= {
        **stack.broker.worker_overrides(),
        "MODERATION_BROKER": stack.broker.url,
        "MODERATION_REDIS_URL": stack.redis.url,
        "MODERATION_WEB_PORT": str(port),
        "HOME": HOME,
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "LANG": "C.UTF-8",
    }
    models = {f"/models/{name}": stack.models[name] for name in ("text", "image", "clip")}
    sandbox = ReadOnlyRoot(
        workdir / "root",
        writable=writable,
        binds={**models, "/models/onnx": onnx, **empty_volumes},
        visible=(ROOT, *{p.resolve() for p in stack.models.values()}),
        folders=(HOME, WORKDIR),
    )
    argv = sandbox.argv([*(command(c) for c in inits), command(worker)], cwd=WORKDIR)
    child = ChildProcess(argv, workdir / "worker.log", env=env)
    child.start()
    return child, port


def test_the_worker_starts_on_a_read_only_root_as_the_manifest_runs_it(
    sandbox_ok: None, stack: EmbeddedStack, baked_onnx: Path, tmp_path: Path
) -> None:
    asyncio.run(
        create_topics(stack.broker.url, [container_env(pod()["containers"][0])["MODERATION_POSTS_TOPIC"]], 8)
    )
    child, port = start_as_deployed(stack, tmp_path, baked_onnx)
    try:
        readiness = wait_ready(port, timeout_s=120)
    except AssertionError:
        pytest.fail(f"not ready on a read-only root:\n{child.log_tail(40)}")
    finally:
        code = child.stop(timeout_s=30)
    log = child.log_path.read_text()
    assert code == 0, child.log_tail()
    assert readiness["ready"] is True, readiness
    # The data volumes start empty: the worker runs without them and says what is missing.
    missing = readiness["missing"]
    assert isinstance(missing, list) and len(missing) == 3, missing
    assert missing[0].startswith("no trained categories: /models/categories holds no category head")
    assert missing[1].startswith("no hash banks: /banks has no banks.json")
    assert missing[2].startswith("CLIP labels") and "only score" in missing[2]
    assert "missing: no trained categories" in log
    # The seeded files were loaded, not exported again.
    assert "exporting the" not in log and "quantizing" not in log, child.log_tail()
    # The one write refused is expected: the hash index is kept in memory when the bank
    # volume is read only (worker.known.matcher).
    refused = [line for line in log.splitlines() if "Read-only file system" in line]
    assert all("keeping it in memory" in line for line in refused), refused


def test_without_the_cache_volume_the_read_only_root_stops_the_worker(
    sandbox_ok: None, stack: EmbeddedStack, baked_onnx: Path, tmp_path: Path
) -> None:
    """The control: the sandbox's root really is read-only (the issue's exit 1)."""
    child, _ = start_as_deployed(stack, tmp_path, baked_onnx, with_cache_volume=False)
    try:
        assert child.wait(180), "the worker kept running on a read-only root without a cache volume"
    finally:
        code = child.stop()
    assert code == 1, child.log_tail()
    assert "cannot write ONNX files" in child.log_path.read_text(), child.log_tail()
