"""Weight hashes and cache ids: stable across loads, changed by any weight or setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.support.encoders import perturbed_text_encoder
from worker.config.settings import Settings
from worker.errors import ModelError
from worker.model import ModerationModel
from worker.model.identity import combine_hashes, short_id, state_sha256, weights_sha256

MakeSettings = Callable[..., Settings]


def test_weights_hash_is_content_only() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(4, 3)
    same = nn.Linear(4, 3)
    same.load_state_dict(layer.state_dict())
    assert weights_sha256(layer) == weights_sha256(same)
    assert len(weights_sha256(layer)) == 64
    with torch.no_grad():
        same.bias[0] += 1e-6
    assert weights_sha256(layer) != weights_sha256(same)
    assert weights_sha256(layer) != weights_sha256(layer.double())
    renamed = {f"x.{k}": v for k, v in layer.state_dict().items()}
    assert state_sha256(renamed) != weights_sha256(layer)
    with torch.device("meta"), pytest.raises(ModelError, match="meta"):
        weights_sha256(nn.Linear(2, 2))


def test_short_ids_cover_preprocessing() -> None:
    sha = "ab" * 32
    first = short_id(sha, {"max_tokens": 512, "size": 224})
    assert len(first) == 16
    assert first == short_id(sha, {"size": 224, "max_tokens": 512})  # order-free
    assert first != short_id(sha, {"max_tokens": 128, "size": 224})
    assert first != short_id("cd" * 32, {"max_tokens": 512, "size": 224})
    assert combine_hashes({"a": "1", "b": "2"}) == combine_hashes({"b": "2", "a": "1"})
    with pytest.raises(ModelError):
        short_id(sha, {"bad": object()})


def test_identity_is_stable_across_loads(make_settings: MakeSettings, tiny_model: ModerationModel) -> None:
    again = ModerationModel.load(make_settings())
    assert again.identity == tiny_model.identity
    assert again.encoder_ids == tiny_model.encoder_ids
    assert set(tiny_model.encoder_ids) == {"text", "image", "clip_text", "clip_image"}
    components = tiny_model.identity.components
    assert set(components) == {"text_encoder", "image_encoder", "bias_heads", "entailment_head", "clip"}
    assert tiny_model.identity.weights_sha256 == combine_hashes(components)


def test_identity_changes_with_a_weight(
    make_settings: MakeSettings,
    tiny_model: ModerationModel,
    tiny_paths: dict[str, Path],
    tmp_path: Path,
) -> None:
    text = perturbed_text_encoder(tiny_paths["text"], tmp_path / "text")
    changed = ModerationModel.load(make_settings(text_encoder=str(text)))
    before, after = tiny_model.identity, changed.identity
    assert after.components["text_encoder"] != before.components["text_encoder"]
    assert after.components["image_encoder"] == before.components["image_encoder"]
    assert after.weights_sha256 != before.weights_sha256
    assert changed.encoder_ids["text"] != tiny_model.encoder_ids["text"]
    assert changed.encoder_ids["image"] == tiny_model.encoder_ids["image"]


def test_encoder_ids_change_with_preprocessing(
    make_settings: MakeSettings, tiny_model: ModerationModel
) -> None:
    shorter = ModerationModel.load(make_settings(max_text_tokens=64))
    assert shorter.identity.weights_sha256 == tiny_model.identity.weights_sha256
    assert shorter.encoder_ids["text"] != tiny_model.encoder_ids["text"]
    assert shorter.encoder_ids["image"] == tiny_model.encoder_ids["image"]
    assert shorter.encoder_ids["clip_text"] == tiny_model.encoder_ids["clip_text"]
