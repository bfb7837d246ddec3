"""An ONNX classifier file as an added classifier.

Two kinds of model are read: one whose input is a string tensor (a text pipeline
exported whole, e.g. TF-IDF + a linear model by skl2onnx) gets the posts' texts;
one whose input is a float image tensor gets pixels prepared as the spec's ``image``
says (size, scale, mean/std, channel order, layout). The first float output holds
the label scores (probabilities, or logits with ``softmax: true``). Labels are the
model's ``labels`` metadata (comma-separated) when it has one, else ``0``, ``1``...

Example::

    spec = ClassifierSpec(kind="onnx", source="spam.onnx", modality="text", labels={"1": "spam", "0": ""})
    OnnxClassifier.load(spec, "classifier:spam").predict(["win a prize"])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from worker.config.classifiers import ClassifierSpec, ImageInput
from worker.errors import ConfigError
from worker.model.categories import Modality
from worker.model.classifiers.onnx_session import open_session, run_session
from worker.model.types import FloatArray

__all__ = ["OnnxClassifier", "image_tensor"]


def image_tensor(images: Sequence[Image.Image], how: ImageInput) -> FloatArray:
    """[N, C, H, W] or [N, H, W, C] float32 pixels as ``how`` describes."""
    arrays: list[FloatArray] = []
    mean, std = np.array(how.mean, dtype=np.float32), np.array(how.std, dtype=np.float32)
    for image in images:
        resized = image.convert("RGB").resize((how.size, how.size), resample=Image.Resampling.BILINEAR)
        pixels: FloatArray = (np.asarray(resized, dtype=np.float32) * np.float32(how.scale) - mean) / std
        arrays.append(pixels[:, :, ::-1] if how.channels == "BGR" else pixels)
    batch = np.stack(arrays)
    return np.ascontiguousarray(
        batch.transpose(0, 3, 1, 2) if how.layout == "NCHW" else batch, dtype=np.float32
    )


def _labels(session: Any, source: str) -> tuple[str, ...]:
    meta = session.get_modelmeta().custom_metadata_map.get("labels")
    if meta:
        return tuple(label.strip() for label in meta.split(","))
    width = _float_output(session).shape[-1]
    if not isinstance(width, int):
        raise ConfigError(
            f"{source}: give the model a 'labels' metadata entry (its output width is not fixed)"
        )
    return tuple(str(i) for i in range(width))


def _float_output(session: Any) -> Any:
    for output in session.get_outputs():
        if output.type == "tensor(float)":
            return output
    raise ConfigError("the ONNX model has no float tensor output to read scores from")


class OnnxClassifier:
    """One ONNX session; text (string input) or image (float input)."""

    def __init__(self, spec: ClassifierSpec, part: str) -> None:
        path = Path(spec.source)
        if not path.is_file():
            raise ConfigError(f"ONNX classifier file {spec.source!r} does not exist")
        self.part, self.spec = part, spec
        self.weights_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        self._session = open_session(path)
        model_input = self._session.get_inputs()[0]
        self._input, self._output = model_input.name, _float_output(self._session).name
        self.modality: Modality = "text" if model_input.type == "tensor(string)" else "image"
        if spec.modality is not None and spec.modality != self.modality:
            raise ConfigError(f"{spec.source} reads {self.modality}s, the spec says {spec.modality}")
        self.labels = _labels(self._session, spec.source)

    @classmethod
    def load(cls, spec: ClassifierSpec, part: str) -> OnnxClassifier:
        return cls(spec, part)

    @property
    def preprocessing(self) -> dict[str, Any]:
        image = self.spec.image.model_dump(mode="json") if self.modality == "image" else {}
        return {"image": image, "softmax": self.spec.softmax}

    def predict(self, inputs: Sequence[Any]) -> FloatArray:
        if not inputs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.modality == "text":
            feed: Any = np.array(list(inputs), dtype=object).reshape(-1, 1)
        else:
            feed = image_tensor(inputs, self.spec.image)
        scores = run_session(self._session, {self._input: feed}, self.part, self._output)
        scores = scores.reshape(len(inputs), -1)
        if self.spec.softmax:
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = shifted / shifted.sum(axis=1, keepdims=True)
        return scores
