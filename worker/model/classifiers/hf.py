"""A Hugging Face sequence- or image-classification model as an added classifier.

Any ``*ForSequenceClassification`` (text) or ``*ForImageClassification`` (image)
model that ``from_pretrained`` loads, by Hub id or folder. Its labels are the
config's ``id2label``; outputs are softmax probabilities, or sigmoids when the
config says ``problem_type: multi_label_classification``.

Example::

    clf = HFClassifier.load("unitary/toxic-bert", "classifier:toxic")
    clf.predict(["you are awful"])      # [[p_toxic, p_severe_toxic, ...]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModelForImageClassification,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from worker.errors import ConfigError, ModelError
from worker.model import identity as ids
from worker.model.categories import Modality
from worker.model.preprocess import rgb
from worker.model.types import FloatArray

__all__ = ["HFClassifier"]

_MAX_TOKENS = 512


def _modality(config: Any, source: str) -> Modality:
    names = " ".join(config.architectures or [])
    if "ForSequenceClassification" in names:
        return "text"
    if "ForImageClassification" in names:
        return "image"
    raise ConfigError(f"{source} is neither a sequence- nor an image-classification model ({names or '?'})")


class HFClassifier:
    """A transformers classification model with its tokenizer or image processor."""

    def __init__(self, model: Any, processor: Any, modality: Modality, part: str) -> None:
        self.model, self.processor, self.modality, self.part = model.eval(), processor, modality, part
        config = model.config
        self.labels = tuple(str(config.id2label[i]) for i in range(config.num_labels))
        self._multi_label = config.problem_type == "multi_label_classification"
        self.weights_sha256 = ids.weights_sha256(model)

    @classmethod
    def load(cls, source: str, part: str) -> HFClassifier:
        try:
            config = AutoConfig.from_pretrained(source)
            modality = _modality(config, source)
            if modality == "text":
                model = AutoModelForSequenceClassification.from_pretrained(source)
                processor = AutoTokenizer.from_pretrained(source)
            else:
                model = AutoModelForImageClassification.from_pretrained(source)
                processor = AutoImageProcessor.from_pretrained(source)  # type: ignore[no-untyped-call]
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load classifier {source}: {exc}") from exc
        return cls(model, processor, modality, part)

    @property
    def preprocessing(self) -> dict[str, Any]:
        if self.modality == "image":
            return {"processor": self.processor.to_dict()}
        return {"tokenizer": ids.text_sha256([self.processor.backend_tokenizer.to_str()]), "max": _MAX_TOKENS}

    def predict(self, inputs: Sequence[Any]) -> FloatArray:
        if not inputs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        if self.modality == "text":
            batch = self.processor(
                list(inputs), truncation=True, max_length=_MAX_TOKENS, padding=True, return_tensors="pt"
            )
        else:
            batch = self.processor(images=rgb(list(inputs)), return_tensors="pt")
        device = next(self.model.parameters()).device
        with torch.inference_mode():
            logits = self.model(**{k: v.to(device) for k, v in batch.items()}).logits.float()
        probs = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
        return np.asarray(probs.cpu().numpy(), dtype=np.float32)
