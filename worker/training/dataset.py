"""A task's examples with their encoder outputs: the step between CSV rows and tensors.

Training and validation rows of both tasks are encoded together into one pair
of feature tables (each distinct text and image once); each task keeps, per
example, the rows of its posts' features and its label, with the training
examples first and the validation examples after them.

Example::

    prepared = prepare(model, store, found, entailment=(train_pairs, val_pairs))
    prepared.entailment.train_index, prepared.tables.text.shape
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from worker.model.moderation import ModerationModel
from worker.names import ENTAILMENT_LABELS
from worker.training.data import BiasExample, EntailmentPair, ImageRef, Post
from worker.training.encode import IntArray, PostRows, Tables, encode_posts
from worker.training.images import FoundImages
from worker.training.store import FeatureStore

__all__ = ["BiasData", "EntailmentData", "Prepared", "image_refs", "prepare"]


@dataclass(frozen=True)
class EntailmentData:
    first: PostRows  # the referenced posts (a)
    second: PostRows  # the judged posts (b)
    labels: IntArray  # indices into ENTAILMENT_LABELS
    train_index: IntArray
    val_index: IntArray
    raw_texts: list[tuple[str, str]]  # (first, second) as written, for the lexical trees


@dataclass(frozen=True)
class BiasData:
    posts: PostRows
    labels: IntArray  # indices into BIAS_LABELS
    train_index: IntArray
    val_index: IntArray


@dataclass(frozen=True)
class Prepared:
    tables: Tables
    entailment: EntailmentData | None
    bias: BiasData | None


Split = tuple[Sequence[EntailmentPair], Sequence[EntailmentPair]]
BiasSplit = tuple[Sequence[BiasExample], Sequence[BiasExample]]


def image_refs(entailment: Split | None, bias: BiasSplit | None) -> list[ImageRef]:
    """Every image any example refers to (duplicates included)."""
    return [post.image for post in _posts(entailment, bias)]


def prepare(
    model: ModerationModel,
    store: FeatureStore,
    found: FoundImages,
    entailment: Split | None = None,
    bias: BiasSplit | None = None,
) -> Prepared:
    """Encode every post of both tasks (train + validation) and index them."""
    posts = _posts(entailment, bias)
    tables, rows = encode_posts(model, posts, found, store)
    cursor = 0

    def take(n: int) -> PostRows:
        nonlocal cursor
        part = PostRows(rows.text[cursor : cursor + n], rows.image[cursor : cursor + n])
        cursor += n
        return part

    entailment_data = bias_data = None
    if entailment is not None:
        pairs = [*entailment[0], *entailment[1]]
        first, second = take(len(pairs)), take(len(pairs))
        labels = np.array([ENTAILMENT_LABELS.index(p.label) for p in pairs], dtype=np.int64)
        raw = [(p.first.text, p.second.text) for p in pairs]
        entailment_data = EntailmentData(
            first, second, labels, *_indices(len(entailment[0]), len(pairs)), raw
        )
    if bias is not None:
        examples = [*bias[0], *bias[1]]
        labels = np.array([e.label for e in examples], dtype=np.int64)
        bias_data = BiasData(take(len(examples)), labels, *_indices(len(bias[0]), len(examples)))
    return Prepared(tables, entailment_data, bias_data)


def _posts(entailment: Split | None, bias: BiasSplit | None) -> list[Post]:
    """All posts in the order :func:`prepare` slices them."""
    posts: list[Post] = []
    if entailment is not None:
        pairs = [*entailment[0], *entailment[1]]
        posts += [p.first for p in pairs] + [p.second for p in pairs]
    if bias is not None:
        posts += [e.post for e in [*bias[0], *bias[1]]]
    return posts


def _indices(n_train: int, n_all: int) -> tuple[IntArray, IntArray]:
    return np.arange(n_train, dtype=np.int64), np.arange(n_train, n_all, dtype=np.int64)
