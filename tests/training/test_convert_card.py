"""The card's checkpoint converts into folders ModerationModel loads, scoring as the card does."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor

from worker.config.settings import Settings
from worker.errors import CheckpointError
from worker.model import BiasClassifier, ModerationModel, PostFeatures
from worker.model.preprocess import IMAGENET_MEAN, IMAGENET_STD
from worker.training.convert_card import convert_card_checkpoint

MakeSettings = Callable[..., Settings]
TEXT = "they always lie about everything, never trust those people"


@pytest.fixture
def card(tiny_paths: dict[str, Path], tmp_path: Path) -> Path:
    """A folder in the card's published format, built from the tiny models."""
    torch.manual_seed(3)
    model = BiasClassifier.from_pretrained(
        str(tiny_paths["text"]), str(tiny_paths["image"]), projection_dim=16
    )
    with torch.no_grad():  # encoders unlike the tiny folders': they must come from the card's file
        model.text_encoder.embeddings.LayerNorm.bias.add_(0.5)
        model.image_encoder.embedder.embedder.convolution.weight.mul_(2.0)
    folder = tmp_path / "bias-card-v1"
    folder.mkdir()
    config = {
        "text_encoder_id_or_path": str(tiny_paths["text"]),
        "projection_dim": 16,
        "fusion_method": "concat",
        "proj_dropout": 0.1,
        "fusion_dropout": 0.1,
        "num_classes": 1,
    }
    (folder / "config.json").write_text(json.dumps(config))
    torch.save({name: t.clone() for name, t in model.state_dict().items()}, folder / "model_weights.pth")
    return folder


def card_probability(
    card: Path, image_encoder: Path, model: ModerationModel, text: str, image: Image.Image
) -> float:
    """The card-structured classifier's end-to-end forward, on the converted model's inputs."""
    reference = BiasClassifier.from_checkpoint(card, image_id_or_path=str(image_encoder)).eval()
    tokens = model.tokenizer([text], return_tensors="pt")
    pixels = model.image_processor(images=[image], return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        logits = reference(pixels, tokens["input_ids"], tokens["attention_mask"])
    return float(torch.sigmoid(logits)[0, 0])


def test_converted_model_scores_as_the_card(
    card: Path,
    tiny_paths: dict[str, Path],
    make_settings: MakeSettings,
    tiny_model: ModerationModel,
    sample_images: list[Image.Image],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loads: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        loads.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    paths = convert_card_checkpoint(card, tmp_path / "out", image_id_or_path=str(tiny_paths["image"]))
    monkeypatch.undo()
    assert loads and all(kwargs.get("weights_only") is True for kwargs in loads)
    assert paths == {name: tmp_path / "out" / name for name in ("text", "image", "heads")}

    model = ModerationModel.load(
        make_settings(
            text_encoder=str(paths["text"]),
            image_encoder=str(paths["image"]),
            heads=paths["heads"],
            clip_model="",
        )
    )
    assert model.identity.heads == "bias-card-v1"
    image = sample_images[0]
    [scores] = model.score(
        [PostFeatures(text=model.encode_texts([TEXT])[0], images=list(model.encode_images([image])))]
    )
    expected = card_probability(card, tiny_paths["image"], model, TEXT, image)
    assert scores.bias_score == pytest.approx(expected, abs=1e-5)
    # The encoders are the card's, not the folders its config names.
    assert not np.allclose(model.encode_texts([TEXT]), tiny_model.encode_texts([TEXT]))


def test_image_processor_is_the_cards(card: Path, tiny_paths: dict[str, Path], tmp_path: Path) -> None:
    paths = convert_card_checkpoint(card, tmp_path / "out", image_id_or_path=str(tiny_paths["image"]))
    processor = AutoImageProcessor.from_pretrained(paths["image"])
    assert processor.size == {"height": 224, "width": 224}
    assert processor.image_mean == pytest.approx(IMAGENET_MEAN)
    assert processor.image_std == pytest.approx(IMAGENET_STD)
    assert (paths["text"] / "tokenizer_config.json").is_file()


def test_refuses_to_overwrite_and_multi_class_cards(
    card: Path, tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    (tmp_path / "out" / "heads").mkdir(parents=True)
    (tmp_path / "out" / "heads" / "heads.json").write_text("{}")
    with pytest.raises(CheckpointError, match="not empty"):
        convert_card_checkpoint(card, tmp_path / "out", image_id_or_path=str(tiny_paths["image"]))

    config = json.loads((card / "config.json").read_text())
    (card / "config.json").write_text(json.dumps({**config, "num_classes": 2}))
    with pytest.raises(CheckpointError, match="num_classes=2"):
        convert_card_checkpoint(card, tmp_path / "other", image_id_or_path=str(tiny_paths["image"]))
