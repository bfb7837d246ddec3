"""Explanations: which words and image regions drove a category's score.

Three methods, all batched, all answering in the same value objects
(:mod:`worker.explain.spans`):

- :mod:`~worker.explain.linear`: exact contributions of a TF-IDF-only linear head
  (each n-gram's weight times its value, in logit space), mapped back to words;
- :mod:`~worker.explain.occlusion`: any text classifier (trained heads on encoders,
  Hugging Face, ONNX): each word removed in turn, all variants of a post in one batch;
- :mod:`~worker.explain.image`: image classifiers, occluded on a coarse grid.

Spans are half-open ``[start, end)`` offsets in Unicode code points into the text as
the producer sent it (:mod:`~worker.explain.offsets` maps a model's text back).
Contributions are in logit space (log-odds of the category score): positive pushed
the score up.

Example::

    explainer = LinearExplainer.from_head(head)
    [explanation] = explainer.explain(["what a shameless liar"], category=1, top_k=3)
    explanation.spans[0]          # Span(start=7, end=16, contribution=0.83)
"""

from __future__ import annotations

from worker.explain.spans import Explanation, HeatMap, Span

__all__ = ["Explanation", "HeatMap", "Span"]
