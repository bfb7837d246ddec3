"""The two trainable problems, as the live worker's modules see them.

A :class:`Task` maps example indices to logits through the live model's own
modules: the bias classifier's projections, then the entailment head (or the
bias fusion and classifier), exactly as :func:`worker.model.scoring.score_posts`
calls them, on cached encoder outputs. Absent modalities (row -1) are masked.
The one-logit bias classifier is written as two logits ``[0, z]`` so both tasks
share one loss and one argmax (``z > 0`` is ``p >= 0.5``).

Example::

    task = entailment_task(model.bias, model.entailment, tables, first, second, labels)
    logits = task.logits(torch.arange(8))     # [8, 3]
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from worker.model.bias import BiasClassifier
from worker.model.entailment import EntailmentHead
from worker.model.lexical import LEXICAL_FEATURES, lexical_row
from worker.model.types import FloatArray
from worker.names import ENTAILMENT_LABELS
from worker.training.boost import BoostConfig, fit_trees
from worker.training.data import BIAS_LABELS
from worker.training.encode import IntArray, PostRows, Tables
from worker.training.fit import class_weights

__all__ = [
    "Task",
    "bias_task",
    "entailment_task",
    "lexical_inputs",
    "projections",
    "standardise_projection",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    """A classification problem over examples ``0..len(labels)-1``."""

    name: str
    classes: tuple[str, ...]
    labels: Tensor  # [N] long
    logits: Callable[[Tensor], Tensor]  # example indices -> [n, len(classes)]
    heads: list[nn.Module]  # what this task trains, besides the projections
    #: Makes the head ignore images (for a head that never saw one in training).
    ignore_images: Callable[[], None]
    #: Example indices -> class probabilities as the live head gives them; None:
    #: the softmax of ``logits``.
    blended: Callable[[Tensor], Tensor] | None = None
    #: Fits what is trained apart from the gradient loop (the lexical trees) on the
    #: given training examples; called before :func:`~worker.training.fit.fit`.
    fit_apart: Callable[[IntArray], None] | None = None

    def probabilities(self, index: Tensor) -> Tensor:
        if self.blended is not None:
            return self.blended(index)
        return torch.softmax(self.logits(index), dim=-1)

    def prepare_fold(self, train_index: IntArray) -> None:
        if self.fit_apart is not None:
            self.fit_apart(train_index)


def projections(bias: BiasClassifier) -> list[nn.Module]:
    return [bias.text_projection, bias.image_projection]


def entailment_task(
    bias: BiasClassifier,
    head: EntailmentHead,
    tables: Tables,
    first: PostRows,
    second: PostRows,
    labels: IntArray,
    lexical: tuple[FloatArray, BoostConfig, int] | None = None,
) -> Task:
    """Post 1 is the referenced post (a), post 2 the judged one (b). With ``lexical``
    (the trees' input per example from :func:`lexical_inputs`, their recipe and seed)
    the head's trees are fitted per fold and its probabilities blend them in."""
    text, image = _with_zero_row(tables.text), _with_zero_row(tables.image)
    rows = [torch.from_numpy(r) for r in (first.text, first.image, second.text, second.image)]

    def logits(index: Tensor) -> Tensor:
        picked = [r[index] for r in rows]
        present = torch.stack([p >= 0 for p in picked], dim=1)
        text_a, text_b = (bias.project_text(text[p]) for p in (picked[0], picked[2]))
        image_a, image_b = (bias.project_image(image[p]) for p in (picked[1], picked[3]))
        out: Tensor = head(text_a, image_a, text_b, image_b, present)
        return out

    task = Task("entailment", ENTAILMENT_LABELS, torch.from_numpy(labels), logits, [head], head.ignore_images)
    if lexical is None or head.lexical is None:
        return task
    lexical_rows = torch.from_numpy(np.asarray(lexical[0], dtype=np.float32))

    def blended(index: Tensor) -> Tensor:
        return head.blend(logits(index), lexical_rows[index])

    def fit_apart(train_index: IntArray) -> None:
        _fit_lexical(head, lexical[0], labels, train_index, lexical[1], lexical[2])

    return dataclasses.replace(task, blended=blended, fit_apart=fit_apart)


def lexical_inputs(
    tables: Tables, first: PostRows, second: PostRows, raw: list[tuple[str, str]]
) -> FloatArray:
    """The lexical trees' input [N, len(LEXICAL_FEATURES)] of every pair (NaN rows where
    a text is missing), computed by the live worker's own function."""

    def encoded(row: int) -> FloatArray | None:
        return tables.text[row] if row >= 0 else None

    table = [
        lexical_row(text_a, text_b, encoded(int(first.text[n])), encoded(int(second.text[n])))
        for n, (text_a, text_b) in enumerate(raw)
    ]
    return np.asarray(table, dtype=np.float32).reshape(len(raw), len(LEXICAL_FEATURES))


def _fit_lexical(
    head: EntailmentHead, table: FloatArray, labels: IntArray, index: IntArray, config: BoostConfig, seed: int
) -> None:
    """Boost the head's trees on the usable rows of ``index``; with too few of them the
    trees are switched off (weight 0) rather than left untrained."""
    assert head.lexical is not None
    usable = index[~np.isnan(table[index]).any(axis=1)]
    if len(usable) < 2 * config.min_child or len(np.unique(labels[usable])) < 2:
        log.warning("lexical trees: only %d pairs with both texts; the MLP answers alone", len(usable))
        head.lexical_weight = 0.0
        return
    weight = class_weights(torch.from_numpy(labels[usable]), len(ENTAILMENT_LABELS)).numpy()
    x = table[usable].astype(np.float64)
    trees = fit_trees(x, labels[usable], weight.astype(np.float64), config, seed)
    head.lexical.load_state_dict(trees.to_module().state_dict())


def bias_task(bias: BiasClassifier, tables: Tables, posts: PostRows, labels: IntArray) -> Task:
    text, image = _with_zero_row(tables.text), _with_zero_row(tables.image)
    text_rows, image_rows = torch.from_numpy(posts.text), torch.from_numpy(posts.image)

    def logits(index: Tensor) -> Tensor:
        t, i = text_rows[index], image_rows[index]
        z = bias.fuse_and_classify(bias.project_text(text[t]), bias.project_image(image[i]), t >= 0, i >= 0)
        return torch.cat([torch.zeros_like(z), z], dim=1)

    def ignore_images() -> None:
        # The fusion layer reads [text | image]: zero the image half of its input weights.
        fusion = bias.fusion_layer[1]
        assert isinstance(fusion, nn.Linear)
        with torch.no_grad():
            fusion.weight[:, bias.projection_dim :] = 0.0

    heads: list[nn.Module] = [bias.fusion_layer, bias.classifier]
    return Task("bias", BIAS_LABELS, torch.from_numpy(labels), logits, heads, ignore_images)


def standardise_projection(projection: nn.Module, features: FloatArray, seed: int) -> None:
    """Initialise ``Linear(D, P)`` (first module of ``projection``) as a random rotation
    of the standardised features: ``W0 (x - mean) / std`` with orthonormal ``W0``.

    Cached encoder outputs differ in scale by orders of magnitude between encoders
    (and between CLS and mean pooling); this makes the heads see unit-scale inputs
    whatever the encoder, without losing information (``W0`` is injective when P >= D).
    Fewer than two rows: the default initialisation is kept.
    """
    linear = projection[0] if isinstance(projection, nn.Sequential) else projection
    if not isinstance(linear, nn.Linear) or len(features) < 2:
        return
    x = torch.from_numpy(np.asarray(features, dtype=np.float32))
    mean, std = x.mean(dim=0), x.std(dim=0).clamp(min=1e-6)
    rotation = torch.empty_like(linear.weight)
    nn.init.orthogonal_(rotation, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        linear.weight.copy_(rotation / std)
        linear.bias.copy_(-(rotation / std) @ mean)


def _with_zero_row(table: FloatArray) -> Tensor:
    """Row -1 (the appended zero row) stands for an absent modality."""
    tensor = torch.from_numpy(np.asarray(table, dtype=np.float32))
    return torch.cat([tensor, tensor.new_zeros((1, tensor.shape[1]))])
