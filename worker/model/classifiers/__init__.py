"""Added classifiers: models of their own whose labels become policy categories.

Each classifier reads one modality (a post's text, or each of its images) and answers
one probability per label. The pipeline runs it like an encoder: in the same
micro-batches, each distinct input once, its outputs cached in Redis under its own
id (kind ``classify_text:<name>`` or ``classify_image:<name>``). Categories are the
labels mapped by the classifier's spec; a post's image category is the highest score
over its images.

Example::

    classifier = load_classifier(ClassifierSpec(kind="nsfw"), settings)
    classifier.predict([pil_image])          # [[0.98, 0.02]]: sfw, nsfw
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from worker.model.categories import Modality
from worker.model.types import FloatArray

__all__ = ["KIND_PREFIX", "Classifier", "classifier_kind", "kind_modality"]

#: Encoder-output kinds of classifiers, by the modality they read.
KIND_PREFIX: Final[dict[Modality, str]] = {"text": "classify_text:", "image": "classify_image:"}


class Classifier(Protocol):
    """One loaded classifier. ``predict`` is synchronous and CPU/GPU-bound."""

    @property
    def part(self) -> str:
        """``classifier:<name>``, as verdicts name it."""

    @property
    def modality(self) -> Modality: ...

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels, in output order."""

    @property
    def weights_sha256(self) -> str: ...

    @property
    def preprocessing(self) -> dict[str, Any]:
        """Everything besides the weights that changes its outputs (part of its cache id)."""

    def predict(self, inputs: Sequence[Any]) -> FloatArray:
        """[N, len(labels)] probabilities, in input order (texts or PIL images)."""


def classifier_kind(classifier: Classifier) -> str:
    return KIND_PREFIX[classifier.modality] + classifier.part.removeprefix("classifier:")


def kind_modality(kind: str) -> Modality | None:
    """The modality a classifier kind reads; ``None`` for the encoders' own kinds."""
    for modality, prefix in KIND_PREFIX.items():
        if kind.startswith(prefix):
            return modality
    return None
