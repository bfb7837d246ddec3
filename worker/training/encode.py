"""Encoder outputs for a dataset, computed once through the live model and cached.

Texts and images go through :meth:`ModerationModel.encode_texts` /
:meth:`~ModerationModel.encode_images`, the very calls the worker makes, so the
heads are trained on exactly the features they will see in production. Each
distinct text or image is encoded once; what a :class:`FeatureStore` already
holds is not encoded again.

Example::

    tables, rows = encode_posts(model, posts, found_images, FileStore(Path(".models/cache")))
    tables.text[rows.text[0]]          # the first post's text features (row -1: no text)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from worker.inference.runner import text_hash
from worker.model.moderation import ModerationModel
from worker.model.types import FloatArray
from worker.training.data import Post
from worker.training.images import FoundImages
from worker.training.store import FeatureStore

__all__ = ["IntArray", "PostRows", "Tables", "encode_image_table", "encode_posts", "encode_texts"]

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
T = TypeVar("T")
_CHUNK = 256


@dataclass(frozen=True)
class Tables:
    """Distinct encoder outputs, one row each."""

    text: FloatArray  # [n_texts, text_hidden]
    image: FloatArray  # [n_images, image_hidden]


@dataclass(frozen=True)
class PostRows:
    """Per post, its row in :class:`Tables` (-1: the modality is absent or masked)."""

    text: IntArray
    image: IntArray


def encode_posts(
    model: ModerationModel, posts: Sequence[Post], found: FoundImages, store: FeatureStore
) -> tuple[Tables, PostRows]:
    """Features of every post's text and image, from ``store`` or the encoders."""
    texts = {text_hash(p.text): p.text for p in posts if p.text.strip()}
    text_table, text_rows = _table("text", texts, model.encode_texts, model, store)
    image_table, image_rows = encode_image_table(model, found, store)
    post_text = [text_rows[text_hash(p.text)] if p.text.strip() else -1 for p in posts]
    post_image = [
        image_rows[found.images[p.image.key].content_sha256] if p.image.key in found.images else -1
        for p in posts
    ]
    rows = PostRows(np.asarray(post_text, dtype=np.int64), np.asarray(post_image, dtype=np.int64))
    return Tables(text_table, image_table), rows


def encode_texts(model: ModerationModel, texts: Sequence[str], store: FeatureStore) -> FloatArray:
    """[len(texts), text_hidden] text features in input order, each distinct text encoded once."""
    table, rows = _table("text", {text_hash(t): t for t in texts}, model.encode_texts, model, store)
    return table[[rows[text_hash(t)] for t in texts]]


def encode_image_table(
    model: ModerationModel, found: FoundImages, store: FeatureStore
) -> tuple[FloatArray, dict[str, int]]:
    """[distinct images, image_hidden] features, and each image's row by its content sha256."""
    images = {img.content_sha256: img.image for img in found.images.values()}
    return _table("image", images, model.encode_images, model, store)


def _table(
    kind: str,
    inputs: dict[str, T],
    encode: Callable[[list[T]], FloatArray],
    model: ModerationModel,
    store: FeatureStore,
) -> tuple[FloatArray, dict[str, int]]:
    encoder_id = model.encoder_ids[kind]
    hashes = sorted(inputs)
    vectors = store.get_many(kind, encoder_id, hashes)
    missing = [h for h in hashes if h not in vectors]
    log.info(
        "%s features: %d distinct, %d cached, %d to encode", kind, len(hashes), len(vectors), len(missing)
    )
    started = time.monotonic()
    for start in range(0, len(missing), _CHUNK):
        chunk = missing[start : start + _CHUNK]
        fresh = dict(zip(chunk, encode([inputs[h] for h in chunk]), strict=True))
        store.put_many(kind, encoder_id, fresh)  # chunk by chunk: an interrupted run keeps its work
        vectors.update(fresh)
        done = start + len(chunk)
        log.info("encoded %d/%d %ss (%.0f s)", done, len(missing), kind, time.monotonic() - started)
    width = model.bias.text_hidden if kind == "text" else model.bias.image_hidden
    table = np.zeros((len(hashes), width), dtype=np.float32)
    for i, h in enumerate(hashes):
        table[i] = vectors[h]
    return table, {h: i for i, h in enumerate(hashes)}
