"""The tiny stand-in models build, save and reload through the real loading paths."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from moderation_lab.tiny_models import build_tiny_models, main
from PIL import Image
from transformers import AutoImageProcessor, AutoModel, AutoProcessor, AutoTokenizer, CLIPModel

TEXTS = ["a photo of a cat", "they always lie about everything, never trust those people!!"]


def file_digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def outputs(folders: dict[str, Path], image: Image.Image) -> dict[str, torch.Tensor]:
    """Each model's output on fixed inputs, loaded from ``folders`` by the Auto classes."""
    tokenizer = AutoTokenizer.from_pretrained(folders["text"])
    bert = AutoModel.from_pretrained(folders["text"]).eval()
    resnet = AutoModel.from_pretrained(folders["image"]).eval()
    resnet_processor = AutoImageProcessor.from_pretrained(folders["image"])
    clip = CLIPModel.from_pretrained(folders["clip"]).eval()
    processor = AutoProcessor.from_pretrained(folders["clip"])
    with torch.no_grad():
        tokens = tokenizer(TEXTS, padding=True, return_tensors="pt")
        clip_inputs = processor(text=TEXTS, images=[image], padding=True, return_tensors="pt")
        return {
            "bert": bert(**tokens).last_hidden_state,
            "resnet": resnet(**resnet_processor(images=[image], return_tensors="pt")).last_hidden_state,
            "clip_text": clip.get_text_features(
                input_ids=clip_inputs["input_ids"], attention_mask=clip_inputs["attention_mask"]
            ).pooler_output,
            "clip_image": clip.get_image_features(pixel_values=clip_inputs["pixel_values"]).pooler_output,
        }


def test_tiny_models_reload_with_identical_outputs(
    tiny_paths: dict[str, Path], sample_images: list[Image.Image], tmp_path: Path
) -> None:
    first = outputs(tiny_paths, sample_images[0])
    # Save what was loaded, load it again: nothing may change on the way.
    copies = {name: tmp_path / name for name in tiny_paths}
    AutoModel.from_pretrained(tiny_paths["text"]).save_pretrained(copies["text"])
    AutoTokenizer.from_pretrained(tiny_paths["text"]).save_pretrained(copies["text"])
    AutoModel.from_pretrained(tiny_paths["image"]).save_pretrained(copies["image"])
    AutoImageProcessor.from_pretrained(tiny_paths["image"]).save_pretrained(copies["image"])
    CLIPModel.from_pretrained(tiny_paths["clip"]).save_pretrained(copies["clip"])
    AutoProcessor.from_pretrained(tiny_paths["clip"]).save_pretrained(copies["clip"])
    second = outputs(copies, sample_images[0])
    for name, tensor in first.items():
        assert torch.isfinite(tensor).all(), name
        assert torch.equal(tensor, second[name]), name


def test_tiny_preprocessing_is_what_the_worker_expects(tiny_paths: dict[str, Path]) -> None:
    image_processor = AutoImageProcessor.from_pretrained(tiny_paths["image"])
    assert image_processor.size == {"height": 64, "width": 64}
    assert list(image_processor.image_mean) == pytest.approx([0.485, 0.456, 0.406])
    clip = CLIPModel.from_pretrained(tiny_paths["clip"])
    tokenizer = AutoProcessor.from_pretrained(tiny_paths["clip"]).tokenizer
    assert clip.config.text_config.max_position_embeddings == 77
    assert clip.config.text_config.eos_token_id == tokenizer.eos_token_id
    assert clip.config.text_config.pad_token_id == tokenizer.pad_token_id
    bert_tokenizer = AutoTokenizer.from_pretrained(tiny_paths["text"])
    tokens = bert_tokenizer.convert_ids_to_tokens(bert_tokenizer("a zebra!")["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[UNK]" not in tokens


def test_builds_are_byte_identical_fast_and_idempotent(tmp_path: Path) -> None:
    started = time.perf_counter()
    first = build_tiny_models(tmp_path / "a")
    elapsed = time.perf_counter() - started
    build_tiny_models(tmp_path / "b")
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")
    assert elapsed < 10
    marker_time = (tmp_path / "a" / "COMPLETE").stat().st_mtime_ns
    assert build_tiny_models(tmp_path / "a") == first
    assert (tmp_path / "a" / "COMPLETE").stat().st_mtime_ns == marker_time


def test_an_incomplete_build_is_redone(tmp_path: Path) -> None:
    paths = build_tiny_models(tmp_path)
    (tmp_path / "COMPLETE").unlink()
    (paths["text"] / "model.safetensors").unlink()
    build_tiny_models(tmp_path)
    assert (paths["text"] / "model.safetensors").is_file()
    assert (tmp_path / "COMPLETE").is_file()


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 0
    assert str(tmp_path / "clip") in capsys.readouterr().out
    assert main([]) == 2


def test_images_of_any_size_fit_the_tiny_resnet(tiny_paths: dict[str, Path]) -> None:
    processor = AutoImageProcessor.from_pretrained(tiny_paths["image"])
    resnet = AutoModel.from_pretrained(tiny_paths["image"]).eval()
    wide = Image.fromarray(np.zeros((10, 300, 3), dtype=np.uint8))
    with torch.no_grad():
        out = resnet(**processor(images=[wide], return_tensors="pt")).last_hidden_state
    assert out.shape[:2] == (1, 16)
