"""Batched head scoring: every post of a batch through the heads at once.

The encoders have already run (their features may come from the cache), so
only the cheap parts remain: each distinct feature vector is projected once,
then the bias classifier scores every (text, image) pair and the entailment
head every post that refers to another.

Example::

    with torch.inference_mode():
        scores = score_posts(model.bias, model.entailment, model.clip, posts)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from worker.errors import ModelError
from worker.model.bias import BiasClassifier
from worker.model.clip import ClipScorer
from worker.model.entailment import EntailmentHead
from worker.model.lexical import lexical_row
from worker.model.types import FloatArray, PostFeatures, PostScores

__all__ = ["score_posts"]


def score_posts(
    bias: BiasClassifier,
    entailment: EntailmentHead,
    clip: ClipScorer | None,
    posts: Sequence[PostFeatures],
) -> list[PostScores]:
    """Scores for ``posts``, in order. Call under ``torch.inference_mode()``.

    Raises :class:`ModelError` naming the first post that has neither text nor
    images: such a post has nothing to score, so it must be filtered out before.
    """
    batch = _HeadBatch(bias, posts)
    bias_scores = batch.bias_scores(bias)
    entailment_scores = batch.entailment(entailment)
    clip_scores = clip.post_scores(posts) if clip else [([], None) for _ in posts]
    return [
        PostScores(
            bias_score=max(bias_scores[n]),
            bias_image_scores=bias_scores[n] if post.images else [],
            entailment=entailment_scores[n],
            clip_similarity=clip_scores[n][0],
            clip_zero_shot=clip_scores[n][1],
        )
        for n, post in enumerate(posts)
    ]


class _Rows:
    """Feature vectors of one kind gathered from many posts; -1 means absent."""

    def __init__(self, width: int, what: str) -> None:
        self.width, self.what, self.rows = width, what, list[FloatArray]()

    def add(self, row: FloatArray | None) -> int:
        if row is None:
            return -1
        array = np.asarray(row, dtype=np.float32)
        if array.shape != (self.width,):
            raise ModelError(
                f"{self.what} feature has shape {array.shape}, expected ({self.width},): "
                "computed by another model?"
            )
        self.rows.append(array)
        return len(self.rows) - 1

    def add_all(self, rows: Sequence[FloatArray]) -> list[int]:
        return [self.add(row) for row in rows]

    def tensor(self, device: torch.device) -> Tensor:
        if not self.rows:
            return torch.zeros((0, self.width), device=device)
        return torch.from_numpy(np.stack(self.rows)).to(device)


class _HeadBatch:
    """A batch of posts' features (and their references'), projected once.

    Index -1 means "absent" and picks the zero row appended to each table.
    """

    def __init__(self, bias: BiasClassifier, posts: Sequence[PostFeatures]) -> None:
        for n, post in enumerate(posts):
            if post.text is None and not post.images:
                raise ModelError(f"post {n} of {len(posts)} in the batch has neither text nor images")
        texts = _Rows(bias.text_hidden, "text")
        images = _Rows(bias.image_hidden, "image")
        refs = [p.reference if p.reference and not p.reference.is_empty else None for p in posts]
        self.post_text = [texts.add(p.text) for p in posts]
        self.post_images = [images.add_all(p.images) for p in posts]
        self.with_reference = [n for n, ref in enumerate(refs) if ref is not None]
        self.ref_text = [texts.add(r.text) if r else -1 for r in refs]
        self.ref_images = [images.add_all(r.images) if r else [] for r in refs]
        self.raw_texts = [(r.raw_text if r else None, p.raw_text) for p, r in zip(posts, refs, strict=True)]
        self.encoded_text = texts.rows
        device = next(bias.parameters()).device
        self.text = _with_zero_row(bias.project_text(texts.tensor(device)))
        self.image = _with_zero_row(bias.project_image(images.tensor(device)))

    def bias_scores(self, bias: BiasClassifier) -> list[list[float]]:
        """Per post, one probability per (text, image_k) pair, or one text-only score."""
        pairs = [
            (n, text, image)
            for n, text in enumerate(self.post_text)
            for image in (self.post_images[n] or [-1])
        ]
        t_idx = self._index([p[1] for p in pairs])
        i_idx = self._index([p[2] for p in pairs])
        logits = bias.fuse_and_classify(self.text[t_idx], self.image[i_idx], t_idx >= 0, i_idx >= 0)
        scores: list[list[float]] = [[] for _ in self.post_text]
        for (n, _, _), prob in zip(pairs, torch.sigmoid(logits[:, 0]).tolist(), strict=True):
            scores[n].append(float(prob))
        return scores

    def entailment(self, head: EntailmentHead) -> list[tuple[float, float, float] | None]:
        """a = the referenced post, b = the post; a post's image is its images' mean."""
        result: list[tuple[float, float, float] | None] = [None] * len(self.post_text)
        rows = self.with_reference
        if not rows:
            return result
        probs = head.probabilities(
            self.text[self._index([self.ref_text[n] for n in rows])],
            torch.stack([self._mean_image(self.ref_images[n]) for n in rows]),
            self.text[self._index([self.post_text[n] for n in rows])],
            torch.stack([self._mean_image(self.post_images[n]) for n in rows]),
            self._present(rows),
            self._lexical(rows) if head.lexical is not None else None,
        )
        for n, row in zip(rows, probs.tolist(), strict=True):
            result[n] = (float(row[0]), float(row[1]), float(row[2]))
        return result

    def _present(self, rows: list[int]) -> Tensor:
        """bool [len(rows), 4]: text_a, image_a, text_b, image_b present."""
        flags = [
            [
                self.ref_text[n] >= 0,
                bool(self.ref_images[n]),
                self.post_text[n] >= 0,
                bool(self.post_images[n]),
            ]
            for n in rows
        ]
        return torch.tensor(flags, device=self.text.device)

    def _lexical(self, rows: list[int]) -> Tensor:
        """The lexical trees' input per pair (see worker/model/lexical.py); NaN where a
        post's text is missing, so that pair is answered by the MLP alone."""
        table = [
            lexical_row(*self.raw_texts[n], self._encoded(self.ref_text[n]), self._encoded(self.post_text[n]))
            for n in rows
        ]
        return torch.tensor(table, dtype=torch.float32, device=self.text.device)

    def _encoded(self, row: int) -> FloatArray | None:
        return self.encoded_text[row] if row >= 0 else None

    def _index(self, rows: list[int]) -> Tensor:
        return torch.tensor(rows, dtype=torch.long, device=self.text.device)

    def _mean_image(self, rows: list[int]) -> Tensor:
        return self.image[rows].mean(dim=0) if rows else self.image[-1]


def _with_zero_row(table: Tensor) -> Tensor:
    return torch.cat([table, table.new_zeros((1, table.shape[1]))])
