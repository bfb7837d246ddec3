"""Heads checkpoints: round trip, label maps, and refusal of foreign encoders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from tests.support.encoders import perturbed_text_encoder
from worker.config.settings import Settings
from worker.errors import CheckpointError
from worker.model import ModerationModel, PostFeatures, ReferenceFeatures
from worker.model.identity import state_sha256, weights_sha256

MakeSettings = Callable[..., Settings]


@pytest.fixture
def trained(make_settings: MakeSettings, tmp_path: Path) -> tuple[ModerationModel, Path]:
    """A model whose heads differ from the untrained ones, saved as a checkpoint."""
    model = ModerationModel.load(make_settings())
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in (model.bias.classifier, model.entailment.mlp[-1]):
            for parameter in module.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
    folder = tmp_path / "heads"
    model.save_heads(folder, name="test-heads", thresholds={"bias": 0.7})
    return model, folder


def sample_post(model: ModerationModel, images: list[Image.Image]) -> PostFeatures:
    text = model.encode_texts(["they always lie", "the claim is false"])
    pixels = model.encode_images(images[:2])
    reference = ReferenceFeatures(text=text[1], images=[pixels[1]])
    return PostFeatures(text=text[0], images=[pixels[0]], reference=reference)


def test_round_trip(
    trained: tuple[ModerationModel, Path],
    make_settings: MakeSettings,
    tiny_model: ModerationModel,
    sample_images: list[Image.Image],
) -> None:
    model, folder = trained
    loaded = ModerationModel.load(make_settings(heads=folder))
    assert loaded.identity.heads == "test-heads"
    components = loaded.identity.components
    # (model.identity was fixed at load, before the fixture changed its heads)
    assert components["bias_heads"] == state_sha256(model.bias.head_state_dict())
    assert components["entailment_head"] == weights_sha256(model.entailment)
    assert components["bias_heads"] != tiny_model.identity.components["bias_heads"]
    assert components["text_encoder"] == tiny_model.identity.components["text_encoder"]
    assert loaded.heads.thresholds == {"bias": 0.7}
    post = sample_post(model, sample_images)
    assert loaded.score([post]) == model.score([post])
    assert loaded.score([post]) != tiny_model.score([post])


def test_a_checkpoint_for_other_encoders_is_refused(
    trained: tuple[ModerationModel, Path],
    make_settings: MakeSettings,
    tiny_paths: dict[str, Path],
    tmp_path: Path,
) -> None:
    _, folder = trained
    text = perturbed_text_encoder(tiny_paths["text"], tmp_path / "other-text")
    with pytest.raises(CheckpointError, match="different text encoder"):
        ModerationModel.load(make_settings(heads=folder, text_encoder=str(text)))

    config = json.loads((folder / "heads.json").read_text())
    config["encoders"]["image"] = "0" * 64
    (folder / "heads.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="different image encoder"):
        ModerationModel.load(make_settings(heads=folder))


def test_malformed_checkpoints_are_refused(
    trained: tuple[ModerationModel, Path], make_settings: MakeSettings
) -> None:
    _, folder = trained
    tensors = safetensors.torch.load_file(str(folder / "heads.safetensors"))
    safetensors.torch.save_file(
        {**tensors, "bias.text_encoder.pooler.dense.bias": torch.zeros(32)},
        str(folder / "heads.safetensors"),
    )
    with pytest.raises(CheckpointError, match="unexpected tensor"):
        ModerationModel.load(make_settings(heads=folder))

    del tensors["entailment.mlp.4.bias"]
    safetensors.torch.save_file(tensors, str(folder / "heads.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing \(mlp.4.bias\)"):
        ModerationModel.load(make_settings(heads=folder))

    (folder / "heads.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="cannot read heads config"):
        ModerationModel.load(make_settings(heads=folder))


def test_entailment_outputs_follow_the_label_map(
    trained: tuple[ModerationModel, Path],
    make_settings: MakeSettings,
    sample_images: list[Image.Image],
) -> None:
    model, folder = trained
    config = json.loads((folder / "heads.json").read_text())
    # Pretend the head was trained with outputs in the order Implies, NoEntailment, Contradictory.
    config["entailment_labels"] = {"Implies": 0, "NoEntailment": 1, "Contradictory": 2}
    (folder / "heads.json").write_text(json.dumps(config))
    loaded = ModerationModel.load(make_settings(heads=folder))
    post = sample_post(model, sample_images)
    [raw] = model.score([post])
    [mapped] = loaded.score([post])
    assert raw.entailment is not None and mapped.entailment is not None
    # ENTAILMENT_LABELS order is Contradictory, Implies, NoEntailment.
    expected = (raw.entailment[2], raw.entailment[0], raw.entailment[1])
    np.testing.assert_allclose(mapped.entailment, expected, atol=1e-6)

    config["entailment_labels"] = {"Implies": 0, "Other": 1, "Contradictory": 2}
    (folder / "heads.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="label map"):
        ModerationModel.load(make_settings(heads=folder))
