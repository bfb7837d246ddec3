"""onnxruntime at its boundary: sessions opened and run with its errors translated.

Example::

    session = open_session(Path("model.onnx"))
    probabilities = run_session(session, {"input": batch}, "my model")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from worker.errors import ConfigError, ModelError
from worker.model.types import FloatArray

__all__ = ["open_session", "run_session"]


def open_session(path: Path) -> Any:
    """An onnxruntime session on the CPU (CUDA first when onnxruntime-gpu is installed)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigError("ONNX classifiers need: pip install onnxruntime") from exc
    wanted = ("CUDAExecutionProvider", "CPUExecutionProvider")
    providers = [p for p in wanted if p in ort.get_available_providers()]
    try:
        return ort.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # onnxruntime raises its own untyped errors (Fail, InvalidGraph...)
        raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc


def run_session(session: Any, feeds: dict[str, Any], what: str, output: str | None = None) -> FloatArray:
    """The output named ``output`` (default: the first) of one run, as float32."""
    try:
        outputs = session.run([output] if output else None, feeds)
    except Exception as exc:  # onnxruntime's errors have no common public base class
        raise ModelError(f"{what} failed: {exc}") from exc
    return np.asarray(outputs[0], dtype=np.float32)
