"""The three methods on a TF-IDF head trained in the test, and on fake classifiers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image

from worker.errors import ModelError
from worker.explain.image import explain_images
from worker.explain.linear import LinearExplainer, word_contributions
from worker.explain.occlusion import OcclusionExplainer, logit
from worker.explain.units import without
from worker.model.category_head import CategoryHead, CategoryHeadConfig, tfidf_matrix
from worker.model.types import FloatArray, PostFeatures

TRICKY = [
    "🙂🙂 The council's shameless report 👨‍👩‍👧 https://news.test/a?x=1 said monday",
    "İstanbul café: naïve budget — 会議 radical meeting 🔥",
    "bizarre",
]


def probabilities(head: CategoryHead, texts: Sequence[str]) -> FloatArray:
    return head.probabilities([PostFeatures(raw_text=t) for t in texts])


def test_linear_explanation_equals_the_exact_contributions(head: CategoryHead) -> None:
    explainer = LinearExplainer.from_head(head)
    config = head.config.tfidf
    assert config is not None
    rows = tfidf_matrix([head.reading(t) for t in TRICKY], config, head.t["idf"]).toarray()
    w = head.t["weight"][1] - head.t["weight"][0]
    b = float(head.t["bias"][1] - head.t["bias"][0])
    for n, ngrams in enumerate(explainer.ngrams(TRICKY, class_index=1)):
        # every n-gram: weight x value, and together all the non-zero columns of the row
        assert {config.vocabulary[g.term] for g in ngrams} == set(np.flatnonzero(rows[n]))
        for g in ngrams:
            j = config.vocabulary[g.term]
            assert g.contribution == pytest.approx(w[j] * rows[n, j], rel=1e-5, abs=1e-7)
        words = word_contributions(ngrams)
        assert sum(s.contribution for s in words) == pytest.approx(sum(g.contribution for g in ngrams))
    p = probabilities(head, TRICKY)[:, 1]
    for e, expected in zip(explainer.explain(TRICKY, 1, "bias", top_k=50), logit(p), strict=True):
        assert e.method == "linear" and e.base == pytest.approx(b, abs=1e-5)
        assert e.logit == pytest.approx(float(expected), abs=1e-3)  # the head's own log-odds


def test_linear_spans_point_at_the_right_characters(head: CategoryHead) -> None:
    explainer = LinearExplainer.from_head(head)
    found = explainer.explain(TRICKY, 1, "bias", top_k=3, with_text=True)
    assert [s.text for s in found[0].spans][:1] == ["shameless"]
    # The head reads normalised text ("İstanbul" -> "istanbul", "café" -> "cafe"): the spans
    # still point at the words as sent, accents and dotted capital included.
    assert head.config.normaliser is not None
    assert {s.text for s in found[1].spans} <= {"İstanbul", "café", "naïve", "radical"}
    assert {s.text for s in found[1].spans} & {"İstanbul", "café", "naïve"}
    assert [s.text for s in found[2].spans] == ["bizarre"]
    for text, e in zip(TRICKY, found, strict=True):
        for s in e.spans:
            assert text[s.start : s.end] == s.text  # code points into the text as sent
    assert all(s.text is None for s in explainer.explain(TRICKY, 1, "bias", top_k=3)[0].spans)


def test_linear_refuses_a_head_that_reads_encoder_features(head: CategoryHead) -> None:
    config = CategoryHeadConfig.model_validate({**head.config.model_dump(), "feature_ids": {"text": "enc"}})
    mixed = CategoryHead(config, head.t)
    assert not LinearExplainer.supports(mixed)
    with pytest.raises(ModelError):
        LinearExplainer.from_head(mixed)


def test_occlusion_finds_the_loaded_words_in_one_batch(head: CategoryHead) -> None:
    calls: list[int] = []

    def scores(texts: Sequence[str]) -> FloatArray:
        calls.append(len(texts))
        return probabilities(head, texts)

    explainer = OcclusionExplainer(scores, max_units=48, max_batch=1000)
    found = explainer.explain(TRICKY, {"bias": 1}, top_k=2, with_text=True)
    assert calls == [sum(e["bias"].passes for e in found)]  # every variant of every post: one call
    assert found[0]["bias"].spans[0].text == "shameless"
    assert found[2]["bias"].spans[0].text == "bizarre" and found[2]["bias"].passes == 2
    for text, e in zip(TRICKY, found, strict=True):
        assert all(text[s.start : s.end] == s.text for s in e["bias"].spans)


def test_occlusion_bounds_passes_and_batches() -> None:
    calls: list[int] = []

    def scores(texts: Sequence[str]) -> FloatArray:
        calls.append(len(texts))
        return np.asarray([[0.5 + 0.4 * ("bad" in t), 0.5] for t in texts], np.float32)

    text = " ".join(["word"] * 200 + ["bad"])
    [found] = OcclusionExplainer(scores, max_units=10, max_batch=4).explain([text], {"x": 0}, top_k=1)
    assert found["x"].passes <= 11 and max(calls) <= 4
    top = found["x"].spans[0]
    assert "bad" in text[top.start : top.end]


@pytest.mark.parametrize("top_k", [1, 3])
def test_removing_the_top_spans_lowers_a_trained_models_score(head: CategoryHead, top_k: int) -> None:
    texts = ["the council said shameless budget meeting report", "monday radical report said bizarre budget"]
    before = probabilities(head, texts)[:, 1]
    linear = LinearExplainer.from_head(head).explain(texts, 1, "bias", top_k=top_k)
    occluded = OcclusionExplainer(lambda t: probabilities(head, t)).explain(texts, {"bias": 1}, top_k=top_k)
    for n, text in enumerate(texts):
        for e in (linear[n], occluded[n]["bias"]):
            assert e.spans
            after = probabilities(head, [without(text, [(s.start, s.end) for s in e.spans])])[0, 1]
            assert after < before[n] - 0.1


def test_image_grid_occlusion_finds_the_region() -> None:
    def scores(images: Sequence[Image.Image]) -> FloatArray:
        # "score" of an image: how red its top-left quarter is
        out = []
        for image in images:
            corner = np.asarray(image.convert("RGB"))[:32, :32, 0].mean() / 255
            out.append([1 - corner, corner])
        return np.clip(np.asarray(out, np.float32), 0.01, 0.99)

    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:32, :32, 0] = 255
    calls: list[int] = []

    def counted(images: Sequence[Image.Image]) -> FloatArray:
        calls.append(len(images))
        return scores(images)

    [maps] = explain_images([Image.fromarray(pixels)], counted, {"red": 1}, grid=4, max_batch=100)
    heat = maps["red"]
    assert (heat.rows, heat.cols, heat.passes) == (4, 4, 17) and calls == [17]
    grid = np.asarray(heat.grid())
    assert grid[:2, :2].min() > 0 and np.allclose(grid[2:, :], 0) and np.allclose(grid[:, 2:], 0)
