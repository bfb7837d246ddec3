"""One post scored and explained outside the stream, as ``moderation-worker explain`` shows it.

The post's text and images go through the model's own calls (encoders, added
classifiers, heads; a long text window by window, the highest deciding), the policy decides
its flags as in a verdict, and the categories the setting asks for are explained by the
method the catalog chose for their model, each on the window that decided it.

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
from worker.explain.stage import PostExplanations, explain_batch, wanted
from worker.explain.windowed import merge_windows, window_requests
from worker.inference.windows import WindowPolicy, highest_window
from worker.model.categories import Modality, builtin_categories
from worker.model.classifiers import kind_modality
from worker.model.moderation import ModerationModel
from worker.model.types import PostFeatures
from worker.verdicts.build import coverage
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
    policy = WindowPolicy(
        settings.text_window_chars, settings.text_window_overlap_chars, settings.text_bound_chars
    )
    windows = policy.split(text) if text.strip() else None
    # a long text is scored window by window, the highest deciding, as the worker reads it
    pieces = windows.texts(text) if windows is not None else [text]
    scores = highest_window(model.score([_features(model, piece, images) for piece in pieces]))
    modalities: list[Modality] = []
    if text.strip():
        modalities.append("text")
    if images:
        modalities.append("image")
    categories = {**builtin_categories(scores, modalities), **scores.categories}
    decision = Policy.from_settings(settings).decide(categories, model.identity.untrained)
    catalog = catalog_for(model, config)
    chosen = wanted(config, decision.flagged, catalog.categories())
    read = coverage(windows, scores.deciding_windows) if windows is not None else None
    parts = window_requests(text, read, chosen, tuple(enumerate(images)))
    found = merge_windows([(offset, explain_batch(catalog, [r], config)[0]) for offset, r in parts])
    asked = wanted(config, decision.flagged, set(decision.flagged))
    return ExplainedPost(decision, found, tuple(sorted(asked - catalog.categories())))
