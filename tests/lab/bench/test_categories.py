"""The bench's category costs, on the tiny models."""

from __future__ import annotations

from pathlib import Path

import pytest
from moderation_lab.bench.categories import category_costs
from moderation_lab.bench.data import BenchPost
from moderation_lab.bench.report import print_category_costs
from PIL import Image

from tests.training.conftest import MakeSettings
from worker.model import ModerationModel


def test_each_kind_of_category_is_timed_beside_the_forward_pass(
    make_settings: MakeSettings,
    sample_images: list[Image.Image],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = ModerationModel.load(make_settings())
    posts = [
        BenchPost(f"p{i}", f"post number {i} about {'bikes' if i % 2 else 'rain'}", f"/img/{i % 3}.png", None)
        for i in range(8)
    ]
    images = {f"/img/{i}.png": image for i, image in enumerate(sample_images)}
    costs = category_costs(model, posts, images, tmp_path, batch=4, repeats=2)
    assert costs["posts"] == 8 and costs["images"] == 3 and costs["forward_ms_per_post"] > 0
    rows = costs["rows"]
    assert list(rows) == [
        "trained head (text features + TF-IDF)",
        "open_nsfw (ONNX Runtime, ResNet-50)",
        "Hugging Face text classifier, MiniLM-L6 size",
        "Hugging Face text classifier, BERT-base size",
        "fine-tuned MiniLM-L6, ONNX int8",
        "fine-tuned MiniLM-L6, ONNX fp32",
        "fine-tuned MiniLM-L6, cached",
    ]
    assert costs["not_measured"] == {}
    for row in rows.values():
        assert row["ms_per_item"] > 0
        assert row["over_forward_pass"] == pytest.approx(row["ms_per_item"] / costs["forward_ms_per_post"])
    assert rows["open_nsfw (ONNX Runtime, ResNet-50)"]["per"] == "image"
    assert (tmp_path / "head" / "category.json").is_file() and (
        tmp_path / "hf-minilm-l6" / "config.json"
    ).is_file()
    assert (tmp_path / "finetuned-minilm-l6" / "model.onnx").is_file()
    print_category_costs(costs)
    assert "what a category costs" in capsys.readouterr().out
