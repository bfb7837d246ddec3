"""The added classifiers of one model: loading, cache ids, batched predictions, categories.

Example::

    group = ClassifierGroup.load(settings.classifiers)
    group.predict("classify_image:nsfw", images)      # [N, 2]
    group.categories(post_features)                    # {"nudity": CategoryScore(...)}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from worker.config.classifiers import ClassifierSpec
from worker.errors import ConfigError, ModelError
from worker.model.categories import CategoryScore
from worker.model.classifiers import Classifier, classifier_kind
from worker.model.types import FloatArray, PostFeatures

__all__ = ["DEFAULT_LABELS", "ClassifierGroup", "classifier_part", "label_map", "load_classifier"]

#: Label maps used when a spec gives none (others: every label under its own name).
DEFAULT_LABELS: dict[str, dict[str, str]] = {"nsfw": {"nsfw": "nudity", "sfw": ""}}


def classifier_part(spec: ClassifierSpec) -> str:
    """How verdicts name the classifier a spec loads."""
    return spec.part_name() if (spec.name or spec.source) else f"classifier:{spec.kind}"


def load_classifier(spec: ClassifierSpec) -> Classifier:
    """Load the model a spec names (``head`` specs are loaded with the heads instead)."""
    part = classifier_part(spec)
    if spec.kind == "nsfw":
        from worker.model.classifiers.nsfw import OpenNsfw

        return OpenNsfw.load(part)
    if spec.kind == "hf":
        from worker.model.classifiers.hf import HFClassifier

        return HFClassifier.load(spec.source, part)
    if spec.kind == "finetuned":
        from worker.model.classifiers.finetuned import FineTunedClassifier

        return FineTunedClassifier.load(spec.source, part)
    if spec.kind == "onnx":
        from worker.model.classifiers.onnx import OnnxClassifier

        return OnnxClassifier.load(spec, part)
    raise ConfigError(f"classifier kind {spec.kind!r} is not loaded as a separate model")


def label_map(
    spec: ClassifierSpec, labels: Sequence[str], part: str, own: Mapping[str, str] | None = None
) -> dict[int, str]:
    """Output index -> category for a model with ``labels``, refusing a map that names a
    label the model lacks (``settings --check`` calls it with labels read from config files).
    ``own``: the model's own label -> category map (a fine-tuned model's finetune.json)."""
    given = spec.labels or DEFAULT_LABELS.get(spec.kind, {}) or dict(own or {})
    unknown = sorted(set(given) - set(labels))
    if unknown:
        raise ConfigError(f"{part}: labels {unknown} are not the model's; it has {list(labels)}")
    # With a map, only the labels it names are categories; without one, every label is.
    names = {label: given.get(label, "") if given else label for label in labels}
    return {i: names[label] for i, label in enumerate(labels) if names[label]}


def _label_map(spec: ClassifierSpec, classifier: Classifier) -> dict[int, str]:
    return label_map(spec, classifier.labels, classifier.part, getattr(classifier, "categories", None))


class ClassifierGroup:
    """Classifiers by kind (``classify_text:<name>`` / ``classify_image:<name>``)."""

    def __init__(self, pairs: Sequence[tuple[ClassifierSpec, Classifier]] = ()) -> None:
        self._by_kind = {classifier_kind(c): (c, _label_map(spec, c)) for spec, c in pairs}
        if len(self._by_kind) != len(pairs):
            raise ConfigError("two classifiers have the same name: give each a distinct 'name'")

    @classmethod
    def load(cls, specs: Sequence[ClassifierSpec]) -> ClassifierGroup:
        return cls([(spec, load_classifier(spec)) for spec in specs if spec.kind != "head"])

    @property
    def kinds(self) -> list[str]:
        return list(self._by_kind)

    @property
    def category_names(self) -> set[str]:
        return {name for _, labels in self._by_kind.values() for name in labels.values()}

    def members(self) -> list[tuple[Classifier, dict[int, str]]]:
        """Each classifier with its output index -> category map (what explanations re-run)."""
        return list(self._by_kind.values())

    def components(self) -> dict[str, str]:
        return {c.part: c.weights_sha256 for c, _ in self._by_kind.values()}

    def encoder_ids(self, short_id: Callable[[str, Mapping[str, Any]], str]) -> dict[str, str]:
        return {kind: short_id(c.weights_sha256, c.preprocessing) for kind, (c, _) in self._by_kind.items()}

    def predict(self, kind: str, inputs: Sequence[Any]) -> FloatArray:
        if kind not in self._by_kind:
            raise ModelError(f"no classifier {kind!r} is loaded")
        return self._by_kind[kind][0].predict(inputs)

    def categories(self, post: PostFeatures) -> dict[str, CategoryScore]:
        """A post's categories: the text's answer, or the highest over its images."""
        found: dict[str, CategoryScore] = {}
        for kind, (classifier, labels) in self._by_kind.items():
            outputs = post.classified.get(kind, [])
            if not outputs:
                continue
            best = np.max(np.stack(outputs), axis=0)
            for index, name in labels.items():
                score = CategoryScore(float(best[index]), (classifier.modality,), (classifier.part,))
                if name not in found or score.score > found[name].score:
                    found[name] = score  # two labels mapped to one category: the higher
        return found
