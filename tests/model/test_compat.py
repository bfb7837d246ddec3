"""The torchvision shim makes transformers importable next to a CPU-only torch."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import torch

from worker.model.compat import ensure_torchvision_importable


def test_idempotent() -> None:
    ensure_torchvision_importable()
    ensure_torchvision_importable()  # defining the schemas a second time would raise
    assert "torchvision" in sys.modules
    assert hasattr(torch.ops.torchvision, "nms")
    importlib.import_module("torchvision.transforms.v2")


def test_fresh_interpreter_builds_tiny_models_with_warnings_as_errors(tmp_path: Path) -> None:
    # A new process is the only place the shim's real work can be seen: here
    # torchvision is already imported. Building the tiny models imports BERT,
    # ResNet, CLIP and the torchvision-backed image processors.
    result = subprocess.run(
        [sys.executable, "-W", "error", "-m", "moderation_lab.tiny_models", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    folders = json.loads(result.stdout)
    assert all((Path(folder) / "config.json").is_file() for folder in folders.values())
