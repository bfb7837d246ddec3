"""Multimodal entailment head over two posts' projected features.

It reuses the bias classifier's encoders *and* projections, so every post's
encoders run once whatever it is compared with; only this small MLP is
specific to entailment. The input follows the multimodal-entailment reference
(text and image of both posts, concatenated), plus four bits saying which of
the four modalities are present, so that a missing one (zeroed) is not
mistaken for a real all-zero feature::

    [text_a | image_a | text_b | image_b | mask(4)]
      -> Dropout -> Linear(4P + 4, P) -> GELU -> Dropout -> Linear(P, 3)

With ``features="pair"`` the input also carries each modality's interaction
features, |a - b| and a * b (zero unless both posts have that modality), as in
sentence-pair classifiers: an MLP over a bare concatenation has to learn to
compare the two posts from few examples, these hand it the comparison
(Linear(8P + 4, P) first).

With ``lexical_trees`` > 0 the head also holds a :class:`~worker.model.lexical.TreeEnsemble`
over the two texts' overlap, and :meth:`EntailmentHead.probabilities` blends
``(1 - w) * softmax(mlp) + w * softmax(trees)`` (``w = lexical_weight``) for
every pair whose lexical row is given (no NaN); other pairs get the MLP alone.

Post *a* is the referenced (earlier) post, *b* the post being moderated,
as pair 1 and pair 2 of the reference dataset.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from worker.errors import CheckpointError, ModelError
from worker.model.bias import masked
from worker.model.lexical import TreeEnsemble
from worker.names import ENTAILMENT_LABELS

__all__ = ["ENTAILMENT_FEATURES", "EntailmentHead"]

ENTAILMENT_FEATURES = ("concat", "pair")


class EntailmentHead(nn.Module):
    """Three-way classifier: outputs follow ``names.ENTAILMENT_LABELS``.

    Example::

        head = EntailmentHead(projection_dim=768)
        present = torch.tensor([[True, False, True, True]])   # a has no image
        probs = head.probabilities(text_a, image_a, text_b, image_b, present)
    """

    labels = ENTAILMENT_LABELS

    def __init__(
        self,
        projection_dim: int = 768,
        dropout: float = 0.1,
        features: str = "concat",
        lexical_trees: int = 0,
        lexical_depth: int = 3,
        lexical_weight: float = 0.5,
    ) -> None:
        super().__init__()
        if features not in ENTAILMENT_FEATURES:
            raise ModelError(f"entailment features {features!r} are not one of {ENTAILMENT_FEATURES}")
        if not 0 <= lexical_weight <= 1:
            raise ModelError(f"lexical weight {lexical_weight} is not within [0, 1]")
        self.lexical = TreeEnsemble(lexical_trees, lexical_depth) if lexical_trees > 0 else None
        self.lexical_weight = lexical_weight
        self.projection_dim = projection_dim
        self.features = features
        width = (4 if features == "concat" else 8) * projection_dim + 4
        self.mlp = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(width, projection_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(projection_dim, len(ENTAILMENT_LABELS)),
        )

    def forward(
        self, text_a: Tensor, image_a: Tensor, text_b: Tensor, image_b: Tensor, present: Tensor
    ) -> Tensor:
        """Logits [N, 3]. ``present`` is bool [N, 4] in the order text_a, image_a,
        text_b, image_b; absent features are zeroed here, whatever they held."""
        parts = [
            masked(features, present[:, i]) for i, features in enumerate((text_a, image_a, text_b, image_b))
        ]
        if self.features == "pair":
            for a, b, both in (
                (parts[0], parts[2], present[:, 0] & present[:, 2]),
                (parts[1], parts[3], present[:, 1] & present[:, 3]),
            ):
                parts += [masked((a - b).abs(), both), masked(a * b, both)]
        parts.append(present.to(text_a.dtype))
        logits: Tensor = self.mlp(torch.cat(parts, dim=-1))
        return logits

    def probabilities(
        self,
        text_a: Tensor,
        image_a: Tensor,
        text_b: Tensor,
        image_b: Tensor,
        present: Tensor,
        lexical: Tensor | None = None,
    ) -> Tensor:
        """Probabilities [N, 3]: softmax of :meth:`forward`, blended with the trees'
        where ``lexical`` [N, len(LEXICAL_FEATURES)] has a row (see the module doc)."""
        return self.blend(self(text_a, image_a, text_b, image_b, present), lexical)

    def blend(self, logits: Tensor, lexical: Tensor | None) -> Tensor:
        """The MLP's ``logits`` [N, 3] as probabilities, blended with the trees' answer
        on ``lexical`` rows; a row holding NaN (texts missing) keeps the MLP's."""
        probs = torch.softmax(logits, dim=-1)
        if self.lexical is None or lexical is None or not len(lexical):
            return probs
        usable = ~lexical.isnan().any(dim=1, keepdim=True)
        trees = torch.softmax(self.lexical(lexical.nan_to_num(0.0)), dim=-1)
        weight = self.lexical_weight * usable.to(probs.dtype)
        return (1 - weight) * probs + weight * trees

    def ignore_images(self) -> None:
        """Zero every weight that reads an image input (features, their interactions and
        presence bits), so outputs no longer depend on images. For a head trained without
        any image: those weights only ever saw zeros, so they hold their random start."""
        p, first = self.projection_dim, self.mlp[1]
        assert isinstance(first, nn.Linear)
        columns = [*range(p, 2 * p), *range(3 * p, 4 * p)]
        if self.features == "pair":
            columns += range(6 * p, 8 * p)
        bits = first.in_features - 4
        columns += [bits + 1, bits + 3]  # image_a, image_b present
        with torch.no_grad():
            first.weight[:, columns] = 0.0

    def reorder_outputs(self, label_map: Mapping[str, int]) -> None:
        """Permute the last layer so a checkpoint trained with ``label_map``
        (label -> output index) answers in ``ENTAILMENT_LABELS`` order."""
        complete = sorted(label_map.values()) == list(range(len(ENTAILMENT_LABELS)))
        if sorted(label_map) != sorted(ENTAILMENT_LABELS) or not complete:
            raise CheckpointError(
                f"entailment label map {dict(label_map)} does not cover {ENTAILMENT_LABELS}"
            )
        order = torch.tensor([label_map[label] for label in ENTAILMENT_LABELS])
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.copy_(last.weight[order].clone())
            last.bias.copy_(last.bias[order].clone())
            if self.lexical is not None:
                # Tree t adds to trained output klass[t], which is now output inverse[klass[t]].
                inverse = torch.argsort(order)
                self.lexical.klass.copy_(inverse[self.lexical.klass])
                self.lexical.base.copy_(self.lexical.base[order].clone())
