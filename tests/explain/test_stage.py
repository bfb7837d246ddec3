"""Choosing methods per model, batching across posts, and the stage off the batch loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.explain.conftest import train_head
from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings
from worker.config.views import ExplainConfig
from worker.explain.catalog import Catalog, ImageSource, TextSource, catalog_for, linear_source
from worker.explain.linear import LinearExplainer
from worker.explain.stage import ExplainRequest, ExplainStage, explain_batch, wanted
from worker.model.categories import Modality
from worker.model.category_head import CategoryHead
from worker.model.category_heads import CategoryHeads
from worker.model.classifiers.group import ClassifierGroup
from worker.model.types import FloatArray


@dataclass
class FakeClassifier:
    """A classifier behind the worker's interface, counting its batch calls."""

    part: str
    modality: Modality
    labels: tuple[str, ...] = ("ok", "bad")
    weights_sha256: str = "0" * 64
    preprocessing: dict[str, Any] | None = None
    calls: int = 0

    def predict(self, inputs: Sequence[Any]) -> FloatArray:
        self.calls += 1
        if self.modality == "text":
            p = [0.9 if "awful" in t else 0.1 for t in inputs]
        else:  # red in the top-left quarter
            p = [float(np.asarray(i.convert("RGB"))[:8, :8, 0].mean() / 255) * 0.98 + 0.01 for i in inputs]
        return np.asarray([[1 - q, q] for q in p], np.float32)


class FakeModel:
    def __init__(self, heads: CategoryHeads, classifiers: ClassifierGroup) -> None:
        self.category_heads, self.classifiers = heads, classifiers

    def encode_texts(self, texts: Sequence[str]) -> FloatArray:
        return np.zeros((len(texts), 4), np.float32)


def red_corner() -> Image.Image:
    pixels = np.zeros((16, 16, 3), np.uint8)
    pixels[:8, :8, 0] = 255
    return Image.fromarray(pixels)


def test_wanted_follows_the_setting() -> None:
    flagged = {"hate": True, "offensive": False, "bias": True}
    explainable = {"hate", "offensive"}
    assert wanted(ExplainConfig(), flagged, explainable) == {"hate"}
    assert wanted(ExplainConfig(explain_categories="scored"), flagged, explainable) == {"hate", "offensive"}
    assert wanted(ExplainConfig(explain_categories="off"), flagged, explainable) == set()
    assert Settings().explain == ExplainConfig()  # the defaults: flagged only, no span text


def test_each_model_gets_its_method(tmp_path: Path) -> None:
    head = train_head(tmp_path / "bias")
    heads = CategoryHeads([("classifier:bias", head, {1: "bias"})])
    text, image = FakeClassifier("classifier:tox", "text"), FakeClassifier("classifier:nsfw", "image")
    group = ClassifierGroup(
        [
            (ClassifierSpec(kind="hf", source="x", name="tox", labels={"bad": "toxic"}), text),  # type: ignore[list-item]
            (ClassifierSpec(kind="onnx", source="y", name="nsfw", labels={"bad": "nudity"}), image),  # type: ignore[list-item]
        ]
    )
    catalog = catalog_for(FakeModel(heads, group), ExplainConfig())  # type: ignore[arg-type]
    assert [(s.part, s.method, s.columns) for s in catalog.text] == [
        ("classifier:bias", "linear", {"bias": 1}),
        ("classifier:tox", "occlusion", {"toxic": 1}),
    ]
    assert [(s.part, s.columns) for s in catalog.image] == [("classifier:nsfw", {"nudity": 1})]
    assert catalog.categories() == {"bias", "toxic", "nudity"}

    requests = [
        ExplainRequest(
            "an awful shameless post", ((0, red_corner()),), frozenset({"bias", "toxic", "nudity"})
        ),
        ExplainRequest("awful", (), frozenset({"toxic"})),
        ExplainRequest("nothing to explain", (), frozenset()),
    ]
    config = ExplainConfig(explain_span_text=True, explain_top_k=2, explain_image_grid=2)
    found = explain_batch(catalog, requests, config)
    assert text.calls == 1 and image.calls == 1  # one batch call per source for all the posts
    assert found[0].text["bias"].method == "linear" and found[0].text["bias"].spans[0].text == "shameless"
    assert found[0].text["toxic"].spans[0].text == "awful" and found[1].text["toxic"].spans[0].text == "awful"
    [heat] = found[0].images["nudity"]
    assert heat.image == 0 and heat.passes == 5 and heat.cells[0] == max(heat.cells)
    assert found[2].text == {} and found[2].images == {}
    assert found[0].passes == 1 + 5 + 5  # linear 1, occlusion 1 + 4 words, a 2x2 grid 5


def test_the_stage_gathers_requests_and_survives_a_failing_model(head: CategoryHead) -> None:
    calls: list[int] = []

    def explain(texts: Sequence[str], *rest: Any) -> list[dict[str, Any]]:
        calls.append(len(texts))
        return linear_source("p", LinearExplainer.from_head(head), {"bias": 1}).explain(texts, *rest)

    catalog = Catalog(text=(TextSource("p", "linear", {"bias": 1}, explain),))

    def broken(images: Sequence[Image.Image]) -> FloatArray:
        raise RuntimeError("model fell over")

    async def scenario() -> None:
        stage = ExplainStage(catalog, ExplainConfig())
        texts = ["shameless", "bizarre report", "radical budget"]
        found = await asyncio.gather(
            *(stage.explain(ExplainRequest(t, (), frozenset({"bias"}))) for t in texts)
        )
        assert calls == [3]  # three posts asked together: one batch
        assert [f.text["bias"].spans[0].end for f in found] == [9, 7, 7]
        await stage.close()
        failing = ExplainStage(Catalog(image=(ImageSource("i", {"x": 1}, broken),)), ExplainConfig())
        result = await failing.explain(ExplainRequest("", ((0, red_corner()),), frozenset({"x"})))
        assert result.failed is not None and "model fell over" in result.failed and result.images == {}
        await failing.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("setting", ["flagged", "scored", "off"])
def test_settings_read_the_environment(setting: str) -> None:
    from worker.config.settings import load_settings

    settings = load_settings(
        {"MODERATION_EXPLAIN_CATEGORIES": setting, "MODERATION_EXPLAIN_SPAN_TEXT": "true"}
    )
    assert settings.explain.explain_categories == setting and settings.explain.explain_span_text
