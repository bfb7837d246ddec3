"""How good an explanation is: plausibility against experts, faithfulness to the model.

Plausibility (as in HateXplain and ERASER): per text, the token-level average
precision (AUPRC) of the units' scores against the experts' marks, and the F1 of the
``k`` highest-scored units with ``k`` the number of marked units (with ``k`` fixed so,
precision, recall and F1 coincide); both averaged over texts.

Faithfulness (ERASER, DeYoung et al., ACL 2020): with the top ``k`` units, the
*comprehensiveness* ``p(text) - p(text without them)`` (higher: the model needed them)
and the *sufficiency* ``p(text) - p(only them)`` (lower: they alone keep the score).

Example::

    auprc, f1 = plausibility([0.1, 0.9, 0.3], [False, True, False])     # 1.0, 1.0
    top = top_units([0.1, 0.9, 0.3], 1)                                 # [1]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score

from worker.explain.units import only, without

__all__ = ["Faithfulness", "faithfulness", "plausibility", "top_units"]


def top_units(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest scores (ties: leftmost first)."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return sorted(order[:k])


def plausibility(scores: Sequence[float], gold: Sequence[bool]) -> tuple[float, float]:
    """(AUPRC, top-k F1) of one text; ``gold`` needs at least one marked unit."""
    marked = sum(gold)
    if not marked:
        raise ValueError("plausibility needs at least one marked unit")
    auprc = float(average_precision_score(np.asarray(gold, int), np.asarray(scores, float)))
    hits = sum(gold[i] for i in top_units(scores, marked))
    return auprc, hits / marked


@dataclass(frozen=True, slots=True)
class Faithfulness:
    """Mean comprehensiveness and sufficiency over texts (probabilities of the category)."""

    comprehensiveness: float
    sufficiency: float
    texts: int


def faithfulness(
    texts: Sequence[str],
    units: Sequence[Sequence[tuple[int, int]]],
    chosen: Sequence[Sequence[int]],
    probability: Callable[[Sequence[str]], Sequence[float]],
) -> Faithfulness:
    """``chosen[n]``: indices into ``units[n]`` of text ``n``'s top units; ``probability``:
    the category's probability for a batch of texts (called once, on 3 x N texts)."""
    batch: list[str] = []
    for text, found, picked in zip(texts, units, chosen, strict=True):
        spans = [found[i] for i in picked]
        batch.extend([text, without(text, spans), only(text, spans)])
    p = np.asarray(probability(batch), float).reshape(-1, 3)
    return Faithfulness(
        comprehensiveness=float(np.mean(p[:, 0] - p[:, 1])) if len(p) else 0.0,
        sufficiency=float(np.mean(p[:, 0] - p[:, 2])) if len(p) else 0.0,
        texts=len(p),
    )
