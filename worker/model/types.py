"""What the pipeline hands the model and gets back, free of torch.

Encoder outputs are plain numpy arrays, so they can be cached, sent between
threads and built by fakes in tests. The pipeline depends on :class:`Scorer`
only; :class:`worker.model.moderation.ModerationModel` is the real one.

Example::

    text = scorer.encode_texts(["a post"])[0]
    image = scorer.encode_images([pil_image])[0]
    [scores] = scorer.score([PostFeatures(text=text, images=[image])])
    scores.bias_score
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
from PIL import Image

from worker.messages import ModelIdentity
from worker.model.categories import CategoryScore

__all__ = ["FloatArray", "PostFeatures", "PostScores", "ReferenceFeatures", "Scorer"]

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ReferenceFeatures:
    """Encoder outputs of the post a post refers to (for entailment)."""

    text: FloatArray | None = None
    images: list[FloatArray] = field(default_factory=list)
    #: The text as written, for the entailment head's lexical trees.
    raw_text: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.text is None and not self.images


@dataclass(frozen=True)
class PostFeatures:
    """Encoder outputs of one post; a modality that is absent is ``None`` / empty.

    ``text`` / ``images`` come from :meth:`Scorer.encode_texts` /
    :meth:`Scorer.encode_images`, ``clip_*`` from the CLIP counterparts.
    A post needs text or at least one image. ``raw_text`` (the text as written) lets
    an entailment head with lexical trees compare the two posts' words; without it
    (or without its reference's) that head answers from its MLP alone.
    """

    text: FloatArray | None = None
    images: list[FloatArray] = field(default_factory=list)
    clip_text: FloatArray | None = None
    clip_images: list[FloatArray] = field(default_factory=list)
    reference: ReferenceFeatures | None = None
    raw_text: str | None = None
    #: Added classifiers' outputs by kind: one row for the text, or one per image.
    classified: dict[str, list[FloatArray]] = field(default_factory=dict)


@dataclass(frozen=True)
class PostScores:
    """Every head's answer for one post.

    ``bias_score`` is the maximum of ``bias_image_scores`` (one per image), or the
    text-only score when there is no image. ``entailment`` holds probabilities in
    ``names.ENTAILMENT_LABELS`` order, ``None`` without a usable reference.
    ``clip_similarity`` is the text's cosine with each image (empty without text,
    images or CLIP); ``clip_zero_shot`` maps each label to its highest
    probability over the images (``None`` without images or CLIP). ``categories``
    holds the added classifiers' categories (the built-in ones are derived from the
    fields above by :func:`worker.model.categories.builtin_categories`).
    """

    bias_score: float
    bias_image_scores: list[float]
    entailment: tuple[float, float, float] | None
    clip_similarity: list[float]
    clip_zero_shot: dict[str, float] | None
    categories: dict[str, CategoryScore] = field(default_factory=dict)
    #: For a text scored in windows: per score ('bias', 'contradiction', each category),
    #: the index of the window it came from (worker.inference.windows); empty otherwise.
    deciding_windows: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """The model as the pipeline sees it. All methods are synchronous and
    CPU/GPU-bound: call them from a worker thread, not the event loop."""

    @property
    def identity(self) -> ModelIdentity:
        """Names and weight hashes of every component (fixed at load)."""

    @property
    def encoder_ids(self) -> dict[str, str]:
        """Short ids for cache keys: ``text``, ``image`` and, with CLIP,
        ``clip_text`` and ``clip_image``."""

    def tokenize(self, text: str) -> tuple[int, ...]:
        """Token ids the text encoder will see (after truncation, specials included).
        Safe to call from a thread other than the one that encodes."""

    def encode_texts(self, texts: Sequence[str]) -> FloatArray:
        """[N, text_hidden] bias-model text features, in input order."""

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> FloatArray:
        """:meth:`encode_texts` for texts already tokenized by :meth:`tokenize`."""

    def encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        """[M, image_hidden] bias-model image features, in input order."""

    def clip_encode_texts(self, texts: Sequence[str]) -> FloatArray:
        """[N, D] unit-norm CLIP text embeddings (ModelError without CLIP)."""

    def clip_encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        """[M, D] unit-norm CLIP image embeddings (ModelError without CLIP)."""

    def classify(self, kind: str, inputs: Sequence[object]) -> FloatArray:
        """[N, labels] probabilities of the added classifier ``kind`` (an ``encoder_ids`` key
        starting ``classify_text:`` or ``classify_image:``), for texts or PIL images."""

    def score(self, posts: Sequence[PostFeatures]) -> list[PostScores]:
        """Run the heads over all posts in one batch, in input order."""
