"""Explanations in the verdict: asked once the flags are known, batched off the scoring loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path

import jsonschema
import numpy as np
from PIL import Image

from tests.test_pipeline import post
from tests.test_pipeline import run as run_pipeline
from worker.config.settings import Settings
from worker.explain.catalog import Catalog, ImageSource, occlusion_source
from worker.explain.stage import ExplainStage
from worker.messages import Verdict
from worker.model.types import FloatArray

SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "verdict.v3.json").read_text(encoding="utf-8"))


def text_model(texts: Sequence[str]) -> FloatArray:
    return np.asarray([[0.1, 0.9] if "awful" in t else [0.8, 0.2] for t in texts], np.float32)


def image_model(images: Sequence[Image.Image]) -> FloatArray:
    p = [0.3 + 0.4 * (np.asarray(i.convert("L"), float).mean() > 0) for i in images]
    return np.asarray([[1 - q, q] for q in p], np.float32)


def broken(images: Sequence[Image.Image]) -> FloatArray:
    raise RuntimeError("the image model fell over")


async def run(
    values: list[bytes], settings: Settings, catalog: Catalog
) -> tuple[list[dict[str, object]], ExplainStage]:
    stage = ExplainStage(catalog, settings.explain)
    publisher, acked, _ = await run_pipeline(values, settings=settings, explainer=stage)
    assert acked == list(range(len(values)))
    return publisher.on("verdicts"), stage


def settings(**extra: object) -> Settings:
    values = {"max_batch": 4, "max_wait_ms": 5, "allow_private_hosts": True, "explain_image_grid": 2}
    # CLIP labels flag only once a threshold is chosen: the fake model's weapons score 0.6 flags
    return Settings(**{**values, "clip_flag_threshold": 0.5, **extra})  # type: ignore[arg-type]


def catalog(image: object = image_model) -> Catalog:
    config = settings().explain
    return Catalog(
        text=(occlusion_source("classifier:tox", text_model, {"bias": 1}, config),),
        image=(ImageSource("classifier:weapons", {"clip:weapons": 1}, image),),  # type: ignore[arg-type]
    )


def test_flagged_categories_are_explained_in_the_verdict() -> None:
    urls = ["https://img.test/missing", "https://img.test/ok/40x30.png"]
    values = [
        post("flagged", text="so awful 🙂 words", images=urls),  # bias 0.3, clip:weapons flags
        post("quiet", text="fine"),  # bias 0.4: nothing flags
    ]
    verdicts, _ = asyncio.run(run(values, settings(), catalog()))
    by_id = {v["post_id"]: v for v in verdicts}
    for v in verdicts:
        jsonschema.validate(v, SCHEMA)
        Verdict.model_validate(v)
    flagged, quiet = by_id["flagged"], by_id["quiet"]
    assert flagged["categories"]["clip:weapons"] and not flagged["categories"]["bias"]
    explained = flagged["explanations"]
    assert list(explained) == ["clip:weapons"]  # flagged only, by default
    [heat] = explained["clip:weapons"]["images"]
    assert (
        heat["image"] == 1 and heat["rows"] == heat["cols"] == 2 and explained["clip:weapons"]["passes"] == 5
    )
    assert explained["clip:weapons"]["logit"] is None and explained["clip:weapons"]["spans"] == []
    assert flagged["timings"]["explain_ms"] >= 0
    assert quiet["explanations"] is None and quiet["timings"]["explain_ms"] is None


def test_every_scored_category_with_span_text_and_a_failing_explainer() -> None:
    values = [post("p1", text="so awful 🙂 words", images=["https://img.test/ok/40x30.png"])]
    verdicts, _ = asyncio.run(
        run(values, settings(explain_categories="scored", explain_span_text=True), catalog())
    )
    [v] = verdicts
    bias = v["explanations"]["bias"]
    assert bias["method"] == "occlusion" and bias["spans"][0] == {
        "start": 3, "end": 8, "contribution": bias["spans"][0]["contribution"], "text": "awful"
    }  # fmt: skip
    assert bias["passes"] == 5 and "clip:weapons" in v["explanations"]
    [failed], _ = asyncio.run(run(values, settings(), catalog(broken)))
    assert failed["explanations"] is None and "explanations_unavailable" in failed["degraded"]
    assert failed["flagged"]  # the verdict stands without its explanation
    [off], _ = asyncio.run(run(values, settings(explain_categories="off"), catalog()))
    assert off["explanations"] is None


def test_a_long_text_is_explained_on_its_deciding_window() -> None:
    # three windows; the fake bias score (window length % 7) makes the last one decide
    text = "plain words here and more plain words, " * 2 + "xxxxx then an awful word, then the end of it all"
    long = settings(
        explain_categories="scored",
        explain_span_text=True,
        text_window_chars=64,
        text_window_overlap_chars=16,
        text_bound_chars=400,
    )
    [v], _ = asyncio.run(run([post("long", text=text)], long, catalog()))
    windows, deciding = v["text"]["windows"], v["text"]["deciding_windows"]
    assert len(windows) == 3 and deciding["bias"] == 2
    window = windows[2]
    spans = v["explanations"]["bias"]["spans"]
    assert spans and all(window["start"] <= s["start"] < s["end"] <= window["end"] for s in spans)
    assert all(text[s["start"] : s["end"]] == s["text"] for s in spans)  # offsets of the whole text
    assert spans[0]["text"] == "awful" and spans[0]["start"] == text.index("awful")
