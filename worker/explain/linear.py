"""Exact explanations of a TF-IDF-only linear head: weight times value, per n-gram.

The head's logit for class ``c`` against the others, ``z = (W[c] - mean_{k != c} W[k]) . x
+ (b[c] - mean_{k != c} b[k])``, is linear in the TF-IDF row ``x``, so each n-gram ``j``
contributes exactly ``w_j * x_j`` (with two classes, ``z`` is the log-odds of ``c``).
An n-gram's contribution is shared equally among its occurrences and, within one, among
its words; each word's span is found by running scikit-learn's analyzer (lower-casing,
its token pattern, word n-grams) with offsets, so the word contributions plus the
intercept add up to the logit. A head that also reads encoder features has no such
decomposition: explain it by occlusion.

Example::

    explainer = LinearExplainer.from_head(head)
    [e] = explainer.explain(["a shameless, bizarre claim"], class_index=1, category="bias", top_k=2)
    [(s.start, s.end) for s in e.spans]        # [(2, 11), (13, 20)]
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from worker.errors import ModelError
from worker.explain.offsets import OffsetMap, Unchanged, lowered
from worker.explain.spans import Explanation, Span, top_spans
from worker.model.category_head import CategoryHead, TfidfConfig, tfidf_matrix
from worker.model.types import FloatArray
from worker.text.normalise import normalise

__all__ = ["LinearExplainer", "NgramContribution", "word_contributions"]

#: scikit-learn's default ``token_pattern`` (the one the category heads are trained with).
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True, slots=True)
class NgramContribution:
    """One vocabulary n-gram present in a text: ``weight * value == contribution``."""

    term: str
    #: where it occurs: per occurrence, the source spans of its words
    occurrences: tuple[tuple[tuple[int, int], ...], ...]
    value: float
    weight: float

    @property
    def contribution(self) -> float:
        return self.weight * self.value


class LinearExplainer:
    """Exact contributions of a linear head over TF-IDF word n-grams only."""

    def __init__(
        self,
        tfidf: TfidfConfig,
        idf: FloatArray,
        weight: FloatArray,
        bias: FloatArray,
        prepare: Callable[[str], OffsetMap] = Unchanged,
    ) -> None:
        """``weight`` [classes, vocabulary], ``bias`` [classes]; ``prepare``: the rewriting
        the head applies before TF-IDF (with its offset map); the text as sent by default."""
        self.tfidf, self.idf, self.prepare = tfidf, idf, prepare
        self.weight, self.bias = np.asarray(weight, np.float64), np.asarray(bias, np.float64)
        self.terms = {index: term for term, index in tfidf.vocabulary.items()}

    @classmethod
    def from_head(
        cls, head: CategoryHead, prepare: Callable[[str], OffsetMap] | None = None
    ) -> LinearExplainer:
        """The head's explainer; it reads the text as the head does (through the normaliser
        when the head was trained on normalised text) unless ``prepare`` says otherwise."""
        if head.config.tfidf is None or head.config.feature_ids:
            raise ModelError(f"category head {head.config.name} is not TF-IDF only: explain it by occlusion")
        if prepare is None:
            prepare = normalise if head.config.normaliser is not None else Unchanged
        return cls(head.config.tfidf, head.t["idf"], head.t["weight"], head.t["bias"], prepare)

    @staticmethod
    def supports(head: CategoryHead) -> bool:
        return head.config.tfidf is not None and not head.config.feature_ids

    def contrast(self, class_index: int) -> tuple[FloatArray, float]:
        """Weights and intercept of class ``class_index``'s logit against the others' mean."""
        others = [k for k in range(self.weight.shape[0]) if k != class_index]
        w = self.weight[class_index] - self.weight[others].mean(axis=0)
        b = float(self.bias[class_index] - self.bias[others].mean())
        return np.asarray(w, np.float32), b

    def ngrams(self, texts: Sequence[str], class_index: int) -> list[list[NgramContribution]]:
        """Per text, every vocabulary n-gram in it with its exact contribution (one TF-IDF pass)."""
        mapped = [self.prepare(text) for text in texts]
        rows = tfidf_matrix([m.text for m in mapped], self.tfidf, self.idf)
        w, _ = self.contrast(class_index)
        found = []
        for n, m in enumerate(mapped):
            row = rows.getrow(n)
            where = self._occurrences(m)
            items = []
            for j, value in zip(row.indices, row.data, strict=True):
                term = self.terms[int(j)]
                if term not in where:
                    raise ModelError(f"TF-IDF found {term!r} where the analyzer did not: offsets unknown")
                items.append(NgramContribution(term, tuple(where[term]), float(value), float(w[j])))
            found.append(items)
        return found

    def explain(
        self, texts: Sequence[str], class_index: int, category: str, top_k: int, with_text: bool = False
    ) -> list[Explanation]:
        """Per text, its ``top_k`` words by exact contribution to class ``class_index``'s logit."""
        _, intercept = self.contrast(class_index)
        explanations = []
        for text, ngrams in zip(texts, self.ngrams(texts, class_index), strict=True):
            spans = word_contributions(ngrams)
            logit = intercept + sum(s.contribution for s in spans)
            chosen = top_spans(spans, top_k)
            if with_text:
                chosen = tuple(s.with_text(text) for s in chosen)
            explanations.append(Explanation(category, "linear", chosen, logit, intercept, passes=1))
        return explanations

    def _occurrences(self, mapped: OffsetMap) -> dict[str, list[tuple[tuple[int, int], ...]]]:
        """Each in-vocabulary n-gram of the analyzer, with its words' source spans per occurrence."""
        low = lowered(mapped.text, mapped)
        tokens = [(match.group(), low.to_source(*match.span())) for match in _TOKEN.finditer(low.text)]
        lo, hi = self.tfidf.ngram_range
        found: dict[str, list[tuple[tuple[int, int], ...]]] = defaultdict(list)
        for n in range(lo, hi + 1):
            for i in range(len(tokens) - n + 1):
                term = " ".join(t for t, _ in tokens[i : i + n])
                if term in self.tfidf.vocabulary:
                    found[term].append(tuple(span for _, span in tokens[i : i + n]))
        return found


def word_contributions(ngrams: Sequence[NgramContribution]) -> list[Span]:
    """Each word's share of the n-grams it is part of (they add up to the n-grams' total)."""
    by_word: dict[tuple[int, int], float] = defaultdict(float)
    for ngram in ngrams:
        share = ngram.contribution / len(ngram.occurrences)
        for occurrence in ngram.occurrences:
            for span in occurrence:
                by_word[span] += share / len(occurrence)
    return [Span(start, end, value) for (start, end), value in sorted(by_word.items())]
