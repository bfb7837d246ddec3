"""Occlusion for any text classifier: remove each word, see how far the score falls.

Works on every backend (torch, Hugging Face, ONNX, a trained head over an encoder)
because it only calls the classifier's own batch call: a post of ``U`` units costs
``1 + U`` texts, and the variants of all posts asked for at once go through together,
in chunks of at most ``max_batch`` texts. A unit is a word, a link or a symbol
(:mod:`worker.explain.units`); a longer post has neighbouring words joined so that it
never costs more than ``1 + max_units`` texts. A unit's contribution is the logit of
the category with the full text minus the logit without that unit (a removed unit
becomes one space).

Example::

    explainer = OcclusionExplainer(classifier.predict, max_units=48)
    [found] = explainer.explain(["you are a liar"], {"insult": 1}, top_k=3)
    found["insult"].spans[0]          # Span(start=10, end=14, contribution=2.1)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from worker.explain.spans import Explanation, Span, top_spans
from worker.explain.units import merge_units, without, words
from worker.model.types import FloatArray

__all__ = ["Occluded", "OcclusionExplainer", "TextScores", "logit"]

#: A classifier's batch call: texts -> [N, labels] probabilities.
TextScores = Callable[[Sequence[str]], FloatArray]
_EPS = 1e-6


def logit(p: FloatArray) -> FloatArray:
    q = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.asarray(np.log(q) - np.log1p(-q), np.float32)


@dataclass(frozen=True, slots=True)
class Occluded:
    """One text's units, its logits [labels], and each unit's logit drop [units, labels]."""

    units: tuple[tuple[int, int], ...]
    logits: FloatArray
    drops: FloatArray

    def spans(self, column: int) -> list[Span]:
        return [Span(a, b, float(d)) for (a, b), d in zip(self.units, self.drops[:, column], strict=True)]


class OcclusionExplainer:
    """Word occlusion over a classifier's batch call."""

    def __init__(self, scores: TextScores, max_units: int = 48, max_batch: int = 64) -> None:
        self.scores, self.max_units, self.max_batch = scores, max_units, max_batch

    def occlude(self, texts: Sequence[str]) -> list[Occluded]:
        """Every unit of every text removed in turn; all variants in batches of ``max_batch``."""
        units = [merge_units(words(text), self.max_units) if text.strip() else [] for text in texts]
        variants: list[str] = []
        for text, found in zip(texts, units, strict=True):
            variants.append(text)
            variants.extend(without(text, [unit]) for unit in found)
        logits = logit(self._predict(variants))
        out, at = [], 0
        for found in units:
            full, rest = logits[at], logits[at + 1 : at + 1 + len(found)]
            drops = (full[None, :] - rest) if found else np.zeros((0, logits.shape[1]), np.float32)
            out.append(Occluded(tuple(found), full, np.asarray(drops, np.float32)))
            at += 1 + len(found)
        return out

    def explain(
        self, texts: Sequence[str], columns: Mapping[str, int], top_k: int, with_text: bool = False
    ) -> list[dict[str, Explanation]]:
        """Per text, an explanation of each category in ``columns`` (category -> label index)."""
        found = []
        for text, occluded in zip(texts, self.occlude(texts), strict=True):
            passes = 1 + len(occluded.units)
            per: dict[str, Explanation] = {}
            for category, column in columns.items():
                chosen = top_spans(occluded.spans(column), top_k)
                if with_text:
                    chosen = tuple(s.with_text(text) for s in chosen)
                per[category] = Explanation(
                    category, "occlusion", chosen, float(occluded.logits[column]), passes=passes
                )
            found.append(per)
        return found

    def _predict(self, texts: list[str]) -> FloatArray:
        chunks = [self.scores(texts[i : i + self.max_batch]) for i in range(0, len(texts), self.max_batch)]
        return np.concatenate([np.asarray(c, np.float32).reshape(len(c), -1) for c in chunks])
