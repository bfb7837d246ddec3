"""A model made by ``train ... --fine-tune`` (worker.finetune) as an added text classifier.

It runs its own encoder pass (its encoder was fine-tuned, so it cannot share the worker's),
in the worker's micro-batches, its outputs cached in Redis under its own id like any added
classifier (``classify_text:<name>``). The text goes through the normaliser it was trained
with (a model trained under another normaliser than the worker's is refused); logits are
divided by the temperature chosen at training, so the thresholds the training report
printed mean what it says. Backend: the folder's ONNX file, int8 in this CPU's recipe
(:func:`~worker.model.onnx_export.int8_recipe`) when its export measured agreement with fp32
(``finetune.json`` ``onnx``), else fp32; torch when no ONNX file (or
no onnxruntime) is there.

Example::

    clf = FineTunedClassifier.load(Path(".models/bias-minilm"), "classifier:bias")
    clf.predict(["The senator's outrageous scheme"])     # [[p_0, p_1]], calibrated
    clf.categories                                       # {"0": "", "1": "bias"}
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from worker.errors import ConfigError, ModelError
from worker.model.categories import Modality
from worker.model.onnx_export import int8_recipe
from worker.model.types import FloatArray

__all__ = ["FineTunedClassifier"]


def _file_sha256(paths: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class FineTunedClassifier:
    """Encoder + head from a fine-tuned folder; ``predict`` takes texts."""

    modality: Modality = "text"

    def __init__(self, folder: Path, part: str, backend: str = "auto") -> None:
        from worker.finetune.model import load_tokenizer, read_config
        from worker.finetune.text import IDENTITY, prepare

        if not (folder / "finetune.json").is_file():
            raise ConfigError(f"{folder} is not a fine-tuned model folder (no finetune.json)")
        self.config = read_config(folder)
        self.part, self.folder = part, folder
        self.labels = tuple(self.config.classes)
        self.categories = dict(self.config.categories)
        self.temperature = float(self.config.decision.get("temperature", 1.0))
        self._tokenizer = load_tokenizer(folder / "encoder")
        self._lock = threading.Lock()  # a Rust tokenizer is not safe from two threads
        self._pad = int(self._tokenizer.pad_token_id or 0)
        self._session: Any = None
        self._torch: Any = None
        self.backend = self._open(backend)
        files = [folder / "head.safetensors", folder / "encoder" / "model.safetensors"]
        if self._session is not None:
            files = [folder / self._onnx_file]
        self.weights_sha256 = _file_sha256(files)
        self.normaliser = self.config.recipe.normaliser or IDENTITY
        prepare([], self.normaliser)  # refuses a model trained under another normaliser

    @classmethod
    def load(cls, source: str, part: str) -> FineTunedClassifier:
        return cls(Path(source), part)

    def _open(self, backend: str) -> str:
        onnx = self.config.onnx
        int8 = onnx.get("int8", {}).get(int8_recipe()) if isinstance(onnx.get("int8"), dict) else None
        files = {"fp32": onnx.get("fp32"), "int8": int8["file"] if int8 else None}
        wanted = {"auto": "int8" if int8 and int8.get("usable") else "fp32"}.get(backend, backend)
        if files.get(wanted):
            try:
                from worker.model.classifiers.onnx_session import open_session

                self._onnx_file = str(files[wanted])
                self._session = open_session(self.folder / self._onnx_file)
                return f"onnx-{wanted}"
            except ConfigError:
                if backend != "auto":
                    raise
        from worker.finetune.model import load_model

        self._torch, _, _ = load_model(self.folder)
        return "torch-fp32"

    @property
    def preprocessing(self) -> dict[str, Any]:
        return {
            "normaliser": self.normaliser,
            "max_tokens": self.config.recipe.max_tokens,
            "temperature": self.temperature,
            "backend": self.backend,
        }

    def predict(self, inputs: Sequence[Any]) -> FloatArray:
        from worker.finetune.engine import pad_batch
        from worker.finetune.text import prepare

        if not inputs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        texts = prepare([str(t) for t in inputs], self.normaliser)
        with self._lock:
            encoded = self._tokenizer(texts, truncation=True, max_length=self.config.recipe.max_tokens)
        ids, mask = pad_batch([list(r) for r in encoded["input_ids"]], self._pad)
        try:
            if self._session is not None:
                from worker.model.classifiers.onnx_session import run_session

                feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
                logits = run_session(self._session, feeds, self.part, "logits").astype(np.float64)
            else:
                import torch

                with torch.inference_mode():
                    logits = self._torch(ids, mask).double().numpy()
        except RuntimeError as exc:
            raise ModelError(f"{self.part} failed: {exc}") from exc
        scaled = logits / self.temperature
        shifted = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)
