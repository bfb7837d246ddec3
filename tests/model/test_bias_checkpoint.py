"""The bias classifier loads the model card's published checkpoint format strictly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from torch import nn
from transformers import AutoModel, BertConfig, BertModel, ResNetConfig, ResNetModel

from worker.errors import CheckpointError, ModelError
from worker.model import BiasClassifier

# microsoft/resnet-34 as published: basic blocks, 64 -> 512 channels.
RESNET34 = {
    "embedding_size": 64,
    "hidden_sizes": [64, 128, 256, 512],
    "depths": [3, 4, 6, 3],
    "layer_type": "basic",
}
# bert-base-uncased (BertModel with pooler) and ResNet-34 without its fc layer.
BERT_BASE_PARAMS = 109_482_240
RESNET34_PARAMS = 21_284_672


class CardReference(nn.Module):
    """The card's module tree written out independently of BiasClassifier."""

    def __init__(self, projection_dim: int = 768) -> None:
        super().__init__()
        self.text_encoder = BertModel(BertConfig())
        self.text_projection = nn.Sequential(nn.Linear(768, projection_dim), nn.Dropout(0.1))
        self.image_encoder = ResNetModel(ResNetConfig(**RESNET34))
        self.image_encoder.classifier = nn.Identity()
        self.image_projection = nn.Sequential(nn.Linear(512, projection_dim), nn.Dropout(0.1))
        self.fusion_layer = nn.Sequential(
            nn.Dropout(0.1),
            nn.Linear(2 * projection_dim, projection_dim),
            nn.GELU(),
            nn.Dropout(0.1),
        )
        self.classifier = nn.Linear(projection_dim, 1)


def shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in module.state_dict().items()}


def test_full_size_architecture_matches_the_card_key_for_key() -> None:
    with torch.device("meta"):
        reference = CardReference()
        ours = BiasClassifier.from_configs(BertConfig(), ResNetConfig(**RESNET34))
    expected, actual = shapes(reference), shapes(ours)
    assert sorted(expected.keys() - actual.keys()) == []  # missing
    assert sorted(actual.keys() - expected.keys()) == []  # unexpected
    assert actual == expected
    assert actual["text_encoder.pooler.dense.weight"] == (768, 768)
    assert actual["text_encoder.embeddings.word_embeddings.weight"] == (30522, 768)
    assert actual["image_encoder.embedder.embedder.convolution.weight"] == (64, 3, 7, 7)
    assert actual["image_projection.0.weight"] == (768, 512)
    assert actual["fusion_layer.1.weight"] == (768, 1536)
    assert actual["classifier.weight"] == (1, 768)
    heads = (768 * 768 + 768) + (512 * 768 + 768) + (1536 * 768 + 768) + (768 + 1)
    total = sum(p.numel() for p in ours.parameters())
    assert total == BERT_BASE_PARAMS + RESNET34_PARAMS + heads


@pytest.fixture
def tiny_classifier(tiny_paths: dict[str, Path]) -> BiasClassifier:
    torch.manual_seed(1)
    model = BiasClassifier.from_pretrained(
        str(tiny_paths["text"]), str(tiny_paths["image"]), projection_dim=16
    )
    with torch.no_grad():  # make the saved encoder weights differ from the folders'
        model.text_encoder.pooler.dense.bias.add_(1.0)
        model.image_encoder.embedder.embedder.convolution.weight.mul_(2.0)
    return model.eval()


def write_card_checkpoint(
    folder: Path, state: dict[str, torch.Tensor], text_path: Path, *, fmt: str = "pth"
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "text_encoder_id_or_path": str(text_path),
        "projection_dim": 16,
        "fusion_method": "concat",
        "proj_dropout": 0.1,
        "fusion_dropout": 0.1,
        "num_classes": 1,
    }
    (folder / "config.json").write_text(json.dumps(config))
    plain = {name: tensor.clone() for name, tensor in state.items()}
    if fmt == "pth":
        torch.save(plain, folder / "model_weights.pth")
    else:
        safetensors.torch.save_file(plain, str(folder / "model.safetensors"))
    return folder


def sample_inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "pixel_values": torch.randn(2, 3, 64, 64, generator=generator),
        "input_ids": torch.randint(5, 60, (2, 9), generator=generator),
        "attention_mask": torch.ones(2, 9, dtype=torch.long),
    }


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_strict_round_trip_through_the_folder_loader(
    tiny_classifier: BiasClassifier,
    tiny_paths: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    folder = write_card_checkpoint(
        tmp_path / "ckpt", tiny_classifier.state_dict(), tiny_paths["text"], fmt=fmt
    )

    def no_pretrained(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("encoders in the checkpoint must be built from config only")

    monkeypatch.setattr(AutoModel, "from_pretrained", no_pretrained)
    loaded = BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    loaded.eval()
    original = tiny_classifier.state_dict()
    assert loaded.state_dict().keys() == original.keys()
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, original[name]), name
    with torch.no_grad():
        assert torch.equal(loaded(**sample_inputs()), tiny_classifier(**sample_inputs()))


def test_torch_load_is_weights_only(
    tiny_classifier: BiasClassifier,
    tiny_paths: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = write_card_checkpoint(tmp_path / "ckpt", tiny_classifier.state_dict(), tiny_paths["text"])
    seen: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    assert seen and all(k.get("weights_only") is True for k in seen)
    assert all(str(k.get("map_location")) == "cpu" for k in seen)


CALLS: list[str] = []


def record_call(message: str) -> None:
    CALLS.append(message)


class Payload:
    """Unpickling this would call record_call: a stand-in for arbitrary code."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (record_call, ("executed",))


def test_a_file_carrying_pickled_code_is_refused(
    tiny_classifier: BiasClassifier, tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    folder = write_card_checkpoint(tmp_path / "ckpt", tiny_classifier.state_dict(), tiny_paths["text"])
    state: dict[str, Any] = dict(tiny_classifier.state_dict())
    state["classifier.bias"] = Payload()
    torch.save(state, folder / "model_weights.pth")
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    assert CALLS == []


def test_missing_and_unexpected_keys_are_listed(
    tiny_classifier: BiasClassifier, tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    state = dict(tiny_classifier.state_dict())
    del state["fusion_layer.1.bias"]
    state["fusion_layer.9.weight"] = torch.zeros(3)
    state["classifier.weight"] = torch.zeros(2, 16)
    folder = write_card_checkpoint(tmp_path / "ckpt", state, tiny_paths["text"])
    with pytest.raises(CheckpointError) as caught:
        BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    message = str(caught.value)
    assert "1 missing (fusion_layer.1.bias)" in message
    assert "1 unexpected (fusion_layer.9.weight)" in message
    assert "classifier.weight (2, 16) != (1, 16)" in message


def test_legacy_position_ids_buffer_is_tolerated(
    tiny_classifier: BiasClassifier, tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    # transformers < 4.31 saved BERT's position_ids buffer with the weights.
    state = dict(tiny_classifier.state_dict())
    state["text_encoder.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
    folder = write_card_checkpoint(tmp_path / "ckpt", state, tiny_paths["text"])
    BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))


def test_heads_only_checkpoint_takes_encoders_from_their_folders(
    tiny_classifier: BiasClassifier, tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    folder = write_card_checkpoint(tmp_path / "ckpt", tiny_classifier.head_state_dict(), tiny_paths["text"])
    loaded = BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    assert torch.equal(loaded.classifier.weight, tiny_classifier.classifier.weight)
    # The saved encoders were altered; these came from the pretrained folders instead.
    assert not torch.equal(
        loaded.text_encoder.pooler.dense.bias, tiny_classifier.text_encoder.pooler.dense.bias
    )


def test_other_fusion_methods_and_bad_configs_are_refused(
    tiny_classifier: BiasClassifier, tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    folder = write_card_checkpoint(tmp_path / "ckpt", tiny_classifier.state_dict(), tiny_paths["text"])
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "fusion_method": "align"}))
    with pytest.raises(CheckpointError, match="fusion method 'align'"):
        BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    del config["projection_dim"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="projection_dim"):
        BiasClassifier.from_checkpoint(folder, image_id_or_path=str(tiny_paths["image"]))
    with pytest.raises(ModelError, match="only 'concat'"):
        BiasClassifier(
            tiny_classifier.text_encoder, tiny_classifier.image_encoder, fusion_method="cosine_similarity"
        )


def test_an_unreachable_encoder_becomes_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load model"):
        BiasClassifier.from_pretrained(str(tmp_path / "nowhere"), str(tmp_path / "nowhere"))


def test_a_missing_modality_is_masked_whatever_its_features(
    tiny_classifier: BiasClassifier,
) -> None:
    generator = torch.Generator().manual_seed(0)
    text = torch.randn(3, 16, generator=generator)
    image_1, image_2 = torch.randn(2, 3, 16, generator=generator)
    absent = torch.tensor([False, False, False])
    with torch.no_grad():
        first = tiny_classifier.fuse_and_classify(text, image_1, image_present=absent)
        second = tiny_classifier.fuse_and_classify(text, image_2, image_present=absent)
        zeros = tiny_classifier.fuse_and_classify(text, torch.zeros(3, 16))
    assert torch.equal(first, second)
    assert torch.equal(first, zeros)
