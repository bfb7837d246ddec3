"""A trained category head: a linear model over the shared encoders' features (and TF-IDF).

Written by ``moderation-worker train category NAME`` into a folder:
``category.json`` (:class:`CategoryHeadConfig`: classes, the label -> category map,
which features it reads, the id of the text/image features it was trained on, the
TF-IDF vocabulary) and ``category.safetensors`` (``weight`` [classes, features],
``bias`` [classes], ``mean``/``scale`` standardising the encoder features, ``idf``).
It reads the post's cached encoder outputs, so a post's encoders still run once
whatever the number of categories; TF-IDF reads the text as a reader sees it
(:mod:`worker.text.normalise`) when the head was trained so (``normaliser``, the
:data:`~worker.text.normalise.NORMALISER_ID` it was trained with: a worker whose
normaliser differs refuses the head), else as written.

Example::

    head = CategoryHead.load(Path(".models/hate"), model.encoder_ids)
    head.probabilities(post_features)          # [p_hate, p_offensive, p_neither]
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final, Literal

import numpy as np
import safetensors.numpy
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from worker.errors import CheckpointError
from worker.model import identity as ids
from worker.model.types import FloatArray, PostFeatures
from worker.text.normalise import NORMALISER_ID, normalise

__all__ = ["CATEGORY_FORMAT", "CategoryHead", "CategoryHeadConfig", "TfidfConfig", "tfidf_matrix"]

CATEGORY_FORMAT: Final = "moderation-category/1"
Inputs = Literal["text", "image", "text+image"]


class TfidfConfig(BaseModel):
    """Word n-gram TF-IDF over the text as written (sklearn's analyzer, fixed vocabulary)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ngram_range: tuple[int, int] = (1, 2)
    vocabulary: dict[str, int] = Field(default_factory=dict)
    sublinear_tf: bool = True


class CategoryHeadConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["moderation-category/1"] = CATEGORY_FORMAT
    name: str
    inputs: Inputs
    classes: tuple[str, ...] = Field(min_length=2)
    #: class -> category ('' or absent: the class is not a category, e.g. "neither")
    categories: dict[str, str]
    #: encoder_ids of the features it was trained on ("text" and/or "image")
    feature_ids: dict[str, str]
    tfidf: TfidfConfig | None = None
    #: logits are divided by it (chosen on out-of-fold scores, so probabilities are calibrated)
    temperature: float = Field(1.0, gt=0)
    #: NORMALISER_ID of the normaliser its TF-IDF read the texts through (None: as written)
    normaliser: str | None = None


def tfidf_matrix(texts: list[str], config: TfidfConfig, idf: FloatArray) -> sparse.csr_matrix:
    """L2-normalised TF-IDF rows, as sklearn's TfidfVectorizer computes them."""
    counts = CountVectorizer(vocabulary=config.vocabulary, ngram_range=config.ngram_range).transform(texts)
    tf = counts.astype(np.float64)
    if config.sublinear_tf:
        tf.data = np.log(tf.data) + 1
    weighted = sparse.csr_matrix(tf.multiply(idf.astype(np.float64)))
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1
    return sparse.csr_matrix(sparse.diags(1 / norms) @ weighted)


class CategoryHead:
    """One trained category head, ready to score posts' features."""

    def __init__(self, config: CategoryHeadConfig, tensors: dict[str, FloatArray]) -> None:
        self.config, self.t = config, tensors
        self.weights_sha256 = ids.text_sha256(
            [config.model_dump_json(), *(_digest(t) for t in tensors.values())]
        )

    @classmethod
    def load(cls, folder: Path, encoder_ids: dict[str, str]) -> CategoryHead:
        try:
            config = CategoryHeadConfig.model_validate_json((folder / "category.json").read_bytes())
            tensors = safetensors.numpy.load_file(str(folder / "category.safetensors"))
        except (OSError, ValidationError, ValueError) as exc:
            raise CheckpointError(f"cannot read category head {folder}: {exc}") from exc
        for kind, trained_on in config.feature_ids.items():
            if encoder_ids.get(kind) != trained_on:
                raise CheckpointError(
                    f"category head {folder} was trained on other {kind} features ({trained_on}, the "
                    f"worker's: {encoder_ids.get(kind)}): train it with the worker's encoders and settings"
                )
        if config.normaliser is not None and config.normaliser != NORMALISER_ID:
            raise CheckpointError(
                f"category head {folder} was trained on text normalised by {config.normaliser}, and "
                f"this worker's normaliser is {NORMALISER_ID}: retrain the head with this worker"
            )
        return cls(config, {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()})

    def features(self, posts: list[PostFeatures]) -> sparse.csr_matrix:
        """The design matrix: standardised encoder features, then TF-IDF columns."""
        blocks: list[sparse.spmatrix] = []
        dense = [self._dense(post) for post in posts]
        if self.config.feature_ids:
            blocks.append(sparse.csr_matrix((np.stack(dense) - self.t["mean"]) / self.t["scale"]))
        if self.config.tfidf is not None:
            texts = [self.reading(post.raw_text or "") for post in posts]
            blocks.append(tfidf_matrix(texts, self.config.tfidf, self.t["idf"]))
        return sparse.csr_matrix(sparse.hstack(blocks))

    def reading(self, text: str) -> str:
        """The text as the head's TF-IDF reads it."""
        return normalise(text).text if self.config.normaliser is not None else text

    def applies(self, post: PostFeatures) -> bool:
        """Whether the post has every input the head reads (else it has no say)."""
        has_text = bool(post.raw_text and post.raw_text.strip())
        if "text" in self.config.inputs and not has_text:
            return False
        if "text" in self.config.feature_ids and post.text is None:
            return False
        return "image" not in self.config.inputs or bool(post.images)

    def _dense(self, post: PostFeatures) -> FloatArray:
        parts: list[FloatArray] = []
        if "text" in self.config.feature_ids and post.text is not None:
            parts.append(post.text)
        if "image" in self.config.feature_ids and post.images:
            parts.append(np.mean(np.stack(post.images), axis=0))  # a post's images: their mean
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    def probabilities(self, posts: list[PostFeatures]) -> FloatArray:
        """[N, classes] softmax probabilities."""
        logits = (
            np.asarray(self.features(posts) @ self.t["weight"].T) + self.t["bias"]
        ) / self.config.temperature
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float32)


def _digest(array: FloatArray) -> str:
    return hashlib.sha256(str(array.shape).encode() + np.ascontiguousarray(array).tobytes()).hexdigest()
