"""One post scored and explained outside the stream, as ``moderation-worker explain`` shows it.

The post's text and images go through the model's own calls (encoders, added
classifiers, heads), the policy decides its flags as in a verdict, and the categories
the setting asks for are explained by the method the catalog chose for their model.

Example::

    result = explain_post(model, settings, post.text, images)
    result.decision.flagged, result.explanations.text["hate"].spans
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from worker.config.settings import Settings
from worker.config.views import ExplainConfig
from worker.explain.catalog import catalog_for
from worker.explain.stage import ExplainRequest, PostExplanations, explain_batch, wanted
from worker.model.categories import Modality, builtin_categories
from worker.model.classifiers import kind_modality
from worker.model.moderation import ModerationModel
from worker.model.types import PostFeatures
from worker.verdicts.policy import Decision, Policy

__all__ = ["ExplainedPost", "explain_post"]


@dataclass(frozen=True)
class ExplainedPost:
    decision: Decision
    explanations: PostExplanations
    #: categories scored that no method explains (built-in heads, image+text heads)
    unexplained: tuple[str, ...]


def _features(model: ModerationModel, text: str, images: Sequence[Image.Image]) -> PostFeatures:
    has_text = bool(text.strip())
    classified = {}
    for kind in model.encoder_ids:
        modality = kind_modality(kind)
        if modality == "text" and has_text:
            classified[kind] = [model.classify(kind, [text])[0]]
        elif modality == "image" and images:
            classified[kind] = list(model.classify(kind, images))
    return PostFeatures(
        text=model.encode_texts([text])[0] if has_text else None,
        images=list(model.encode_images(images)) if images else [],
        raw_text=text,
        classified=classified,
    )


def explain_post(
    model: ModerationModel,
    settings: Settings,
    text: str,
    images: Sequence[Image.Image] = (),
    config: ExplainConfig | None = None,
) -> ExplainedPost:
    """Score one post (text and images as sent), decide its flags, explain what the setting asks."""
    config = config or settings.explain
    [scores] = model.score([_features(model, text, images)])
    modalities: list[Modality] = []
    if text.strip():
        modalities.append("text")
    if images:
        modalities.append("image")
    categories = {**builtin_categories(scores, modalities), **scores.categories}
    decision = Policy.from_settings(settings).decide(categories, model.identity.untrained)
    catalog = catalog_for(model, config)
    chosen = wanted(config, decision.flagged, catalog.categories())
    request = ExplainRequest(text, tuple(enumerate(images)), chosen)
    [found] = explain_batch(catalog, [request], config)
    asked = wanted(config, decision.flagged, set(decision.flagged))
    return ExplainedPost(decision, found, tuple(sorted(asked - catalog.categories())))
