"""``moderation-worker explain`` on the tiny models with a TF-IDF head, and the heat-map overlay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from moderation_lab.tiny_models import build_tiny_models
from PIL import Image
from typer.testing import CliRunner

from tests.explain.conftest import train_head
from worker.cli import app
from worker.explain.show import overlay, top_words
from worker.explain.spans import Explanation, HeatMap, Span


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("explain-cli")
    tiny = build_tiny_models(root / "tiny")
    train_head(root / "slant", category="slant")
    return {
        "MODERATION_TEXT_ENCODER": str(tiny["text"]),
        "MODERATION_IMAGE_ENCODER": str(tiny["image"]),
        "MODERATION_CLIP_MODEL": "",
        "MODERATION_DEVICE": "cpu",
        "MODERATION_PRECISION": "fp32",
        "MODERATION_CLASSIFIERS": json.dumps([{"kind": "head", "source": str(root / "slant")}]),
        "MODERATION_POLICY": json.dumps({"slant": {"threshold": 0.5}}),
    }


def test_explain_a_text_highlights_the_words_behind_the_flag(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODERATION_HEADS", raising=False)
    result = CliRunner().invoke(app, ["explain", "--text", "the council said 🙂 a shameless report"], env=env)
    assert result.exit_code == 0, result.output
    assert "flagged" in result.output and "slant:" in result.output
    assert "shameless" in result.output and "linear" in result.output
    assert "[21, 30)" in result.output  # code points: the emoji counts one
    assert "bias" in result.output  # the untrained bias head: scored, never explained
    bad = CliRunner().invoke(app, ["explain", "--text", "x", "--topic", "posts"], env=env)
    assert bad.exit_code != 0 and "exactly one of" in bad.output


def test_explain_a_post_of_a_file(env: dict[str, str], tmp_path: Path) -> None:
    posts = tmp_path / "posts.jsonl"
    lines = [
        {"id": "p1", "author_id": "a", "created_at": "2026-11-20T12:00:00Z", "text": "budget meeting"},
        {
            "id": "p2",
            "author_id": "a",
            "created_at": "2026-11-20T12:00:00Z",
            "text": "a bizarre radical report",
        },
    ]
    posts.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["explain", "--posts", str(posts), "--post-id", "p2"], env=env)
    assert result.exit_code == 0, result.output
    assert "post p2" in result.output and "bizarre" in result.output
    missing = CliRunner().invoke(app, ["explain", "--posts", str(posts), "--post-id", "p9"], env=env)
    assert missing.exit_code == 1 and "no post 'p9'" in missing.output


def test_overlay_tints_the_strong_cells_and_top_words() -> None:
    image = Image.new("RGB", (40, 40), (0, 0, 255))
    heat = HeatMap("x", 0, 2, 2, (2.0, 0.0, -1.0, 1.0), 0.3)
    pixels = np.asarray(overlay(image, heat))
    assert pixels[5, 5, 0] > pixels[35, 35, 0] > pixels[5, 35, 0] == 0  # strongest, half, none
    assert pixels[35, 5, 0] == 0  # a negative cell stays untinted
    e = Explanation("x", "occlusion", (Span(2, 11, 1.0), Span(0, 1, 0.5)), 1.0)
    assert top_words("a shameless post", {"x": e}) == {"x": ["shameless", "a"]}


def test_a_long_text_is_explained_on_its_deciding_window(env: dict[str, str]) -> None:
    text = "the council said the budget meeting report " * 4 + "was shameless"
    windows = {"MODERATION_TEXT_WINDOW_CHARS": "64", "MODERATION_TEXT_WINDOW_OVERLAP_CHARS": "16"}
    args = ["explain", "--text", text, "--categories", "scored"]
    result = CliRunner().invoke(app, args, env={**env, **windows})
    assert result.exit_code == 0, result.output
    start = text.index("shameless")
    assert f"[{start}, {start + 9})" in result.output  # offsets of the whole text, not the window's
    # the score shown is the deciding window's, as the worker reads a long text
    from worker.inference.windows import WindowPolicy
    from worker.model.category_head import CategoryHead
    from worker.model.types import PostFeatures

    head = CategoryHead.load(Path(json.loads(env["MODERATION_CLASSIFIERS"])[0]["source"]), {})
    pieces = WindowPolicy(64, 16, 50_000).split(text).texts(text)
    assert len(pieces) > 1
    best = max(head.probabilities([PostFeatures(raw_text=p) for p in pieces])[:, 1])
    assert f"slant {best:.3f}" in result.output
