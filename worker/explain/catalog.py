"""Which method explains which category: chosen per model, from what the model allows.

- a trained category head over TF-IDF alone: exact contributions (:mod:`.linear`);
- any other text model (a head over the text encoder, Hugging Face and ONNX text
  classifiers, fine-tuned ones behind the classifier interface): word occlusion through
  its own batch call (:mod:`.occlusion`);
- an image classifier: occlusion on a ``grid x grid`` grid (:mod:`.image`).

The built-in heads (bias, contradiction, CLIP labels) and hash-bank matches are not
explained: the bias head and CLIP read text and images together through encoders the
worker ships untrained or zero-shot, and a bank match is its own reason. Heads that read
images as well as text are not explained either (a text span would tell half the story).
The media-bias measurements (docs/explanations.md) chose these methods.

Example::

    catalog = catalog_for(model, settings.explain)
    catalog.categories()          # {"hate", "offensive", "nudity"}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker.config.views import ExplainConfig
from worker.explain.image import ImageScores
from worker.explain.linear import LinearExplainer
from worker.explain.occlusion import OcclusionExplainer, TextScores
from worker.explain.spans import Explanation, Method
from worker.model.category_head import CategoryHead
from worker.model.types import FloatArray, PostFeatures

if TYPE_CHECKING:
    from worker.model.moderation import ModerationModel

__all__ = ["Catalog", "ImageSource", "TextSource", "catalog_for", "linear_source", "occlusion_source"]

#: texts, category -> column, top-k, with span text -> per text, category -> explanation
ExplainTexts = Callable[[Sequence[str], Mapping[str, int], int, bool], list[dict[str, Explanation]]]


@dataclass(frozen=True)
class TextSource:
    """One text model and the categories (-> its output column) it explains."""

    part: str
    method: Method
    columns: dict[str, int]
    explain: ExplainTexts


@dataclass(frozen=True)
class ImageSource:
    part: str
    columns: dict[str, int]
    scores: ImageScores


@dataclass(frozen=True)
class Catalog:
    text: tuple[TextSource, ...] = ()
    image: tuple[ImageSource, ...] = ()
    #: parts left unexplained, with why
    skipped: dict[str, str] = field(default_factory=dict)

    def categories(self) -> set[str]:
        return {c for s in self.text for c in s.columns} | {c for s in self.image for c in s.columns}


def linear_source(part: str, explainer: LinearExplainer, columns: dict[str, int]) -> TextSource:
    def explain(
        texts: Sequence[str], wanted: Mapping[str, int], top_k: int, with_text: bool
    ) -> list[dict[str, Explanation]]:
        found: list[dict[str, Explanation]] = [{} for _ in texts]
        for category, column in wanted.items():
            for n, e in enumerate(explainer.explain(texts, column, category, top_k, with_text)):
                found[n][category] = e
        return found

    return TextSource(part, "linear", columns, explain)


def occlusion_source(
    part: str, scores: TextScores, columns: dict[str, int], config: ExplainConfig
) -> TextSource:
    explainer = OcclusionExplainer(scores, config.explain_max_words, config.explain_max_batch)
    return TextSource(part, "occlusion", columns, explainer.explain)


def _head_scores(model: ModerationModel, head: CategoryHead) -> TextScores:
    def scores(texts: Sequence[str]) -> FloatArray:
        vectors = model.encode_texts(texts)
        return head.probabilities(
            [PostFeatures(text=v, raw_text=t) for t, v in zip(texts, vectors, strict=True)]
        )

    return scores


def catalog_for(model: ModerationModel, config: ExplainConfig) -> Catalog:
    """The explainable categories of ``model``'s added heads and classifiers."""
    text: list[TextSource] = []
    image: list[ImageSource] = []
    skipped: dict[str, str] = {}
    for part, head, labels in model.category_heads.heads:
        columns = {name: index for index, name in labels.items()}
        if head.config.inputs != "text":
            skipped[part] = f"reads {head.config.inputs}: not explained"
        elif LinearExplainer.supports(head):
            text.append(linear_source(part, LinearExplainer.from_head(head), columns))
        else:
            text.append(occlusion_source(part, _head_scores(model, head), columns, config))
    for classifier, labels in model.classifiers.members():
        columns = {name: index for index, name in labels.items()}
        if classifier.modality == "text":
            text.append(occlusion_source(classifier.part, classifier.predict, columns, config))
        else:
            image.append(ImageSource(classifier.part, columns, classifier.predict))
    return Catalog(tuple(text), tuple(image), skipped)
