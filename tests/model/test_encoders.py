"""ModerationModel's encoders: padding, truncation, order, normalisation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from PIL import Image
from torch import nn

from worker.config.settings import Settings
from worker.errors import ModelError
from worker.model import ModerationModel, Scorer
from worker.model.moderation import length_buckets

MakeSettings = Callable[..., Settings]

SHORT = "a photo of a cat"
LONG = "breaking news: the city council votes on the new budget today " * 3


@contextmanager
def input_shapes(module: nn.Module) -> Iterator[list[tuple[int, ...]]]:
    """Record the shape of ``input_ids`` / ``pixel_values`` of every call of ``module``."""
    seen: list[tuple[int, ...]] = []

    def hook(_: nn.Module, args: Any, kwargs: dict[str, Any]) -> None:
        tensor = kwargs.get("input_ids", kwargs.get("pixel_values"))
        seen.append(tuple(tensor.shape))

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


def test_the_model_satisfies_the_scorer_protocol(tiny_model: ModerationModel) -> None:
    assert isinstance(tiny_model, Scorer)


def test_texts_pad_to_the_longest_in_the_batch_not_to_512(tiny_model: ModerationModel) -> None:
    longest = len(tiny_model.tokenize(LONG))
    assert len(tiny_model.tokenize(SHORT)) < longest < 512
    with input_shapes(tiny_model.bias.text_encoder) as seen:
        out = tiny_model.encode_texts([SHORT, LONG, SHORT])
    assert out.shape == (3, tiny_model.bias.text_hidden) and out.dtype == np.float32
    assert max(length for _, length in seen) == longest
    assert sum(rows for rows, _ in seen) == 3


def test_texts_are_truncated_to_max_text_tokens(make_settings: MakeSettings) -> None:
    model = ModerationModel.load(make_settings(max_text_tokens=8, clip_model=""))
    assert len(model.tokenize(LONG)) == 8
    assert len(model.tokenize("")) == 2  # [CLS] [SEP]
    with input_shapes(model.bias.text_encoder) as seen:
        model.encode_texts([LONG, SHORT])
    assert max(length for _, length in seen) == 8


def test_batched_text_features_match_single_ones_in_input_order(
    tiny_model: ModerationModel,
) -> None:
    texts = [LONG, SHORT, "", "hello world"]
    batched = tiny_model.encode_texts(texts)
    for row, text in zip(batched, texts, strict=True):
        np.testing.assert_allclose(row, tiny_model.encode_texts([text])[0], atol=1e-5)
    assert tiny_model.encode_texts([]).shape == (0, tiny_model.bias.text_hidden)


def test_image_features_use_the_saved_processor_size(
    tiny_model: ModerationModel, sample_images: list[Image.Image]
) -> None:
    with input_shapes(tiny_model.bias.image_encoder) as seen:
        out = tiny_model.encode_images(sample_images)
    assert seen == [(3, 3, 64, 64)]
    assert out.shape == (3, tiny_model.bias.image_hidden) and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[1], tiny_model.encode_images([sample_images[1]])[0], atol=1e-5)
    processor = tiny_model.image_processor
    assert list(processor.image_mean) == pytest.approx([0.485, 0.456, 0.406])
    assert list(processor.image_std) == pytest.approx([0.229, 0.224, 0.225])


def test_clip_embeddings_are_unit_norm(tiny_model: ModerationModel, sample_images: list[Image.Image]) -> None:
    texts = tiny_model.clip_encode_texts([SHORT, LONG * 10])  # far over 77 tokens
    images = tiny_model.clip_encode_images(sample_images)
    assert texts.shape == (2, 16) and images.shape == (3, 16)
    assert texts.dtype == np.float32 and images.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    assert tiny_model.clip_encode_texts([]).shape == (0, 16)


def test_without_clip(make_settings: MakeSettings) -> None:
    model = ModerationModel.load(make_settings(clip_model=""))
    assert model.clip is None
    assert set(model.encoder_ids) == {"text", "image"}
    assert model.identity.clip is None and "clip" not in model.identity.components
    with pytest.raises(ModelError, match="CLIP is disabled"):
        model.clip_encode_texts(["x"])


def test_a_missing_model_folder_is_a_model_error(make_settings: MakeSettings) -> None:
    with pytest.raises(ModelError):
        ModerationModel.load(make_settings(text_encoder="/nonexistent/bert"))


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [
        ([], []),
        ([5], [[0]]),
        ([10, 3, 10, 4], [[1, 3], [0, 2]]),
        ([10, 9, 10, 8], [[3, 1, 0, 2]]),
        ([5, 500, 6], [[0, 2], [1]]),
    ],
)
def test_length_buckets(lengths: list[int], expected: list[list[int]]) -> None:
    assert length_buckets(lengths) == expected


def test_length_buckets_respect_max_items() -> None:
    groups = length_buckets([7] * 10, max_items=4)
    assert [len(g) for g in groups] == [4, 4, 2]
    assert sorted(i for g in groups for i in g) == list(range(10))


def test_the_jpeg_decode_scale_is_part_of_the_image_cache_ids(
    make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    reduced = ModerationModel.load(make_settings(decode_min_side=224))
    full = ModerationModel.load(make_settings(decode_min_side=0))
    assert reduced.encoder_ids["text"] == full.encoder_ids["text"]
    assert reduced.encoder_ids["clip_text"] == full.encoder_ids["clip_text"]
    assert reduced.encoder_ids["image"] != full.encoder_ids["image"]
    assert reduced.encoder_ids["clip_image"] != full.encoder_ids["clip_image"]
    assert not [r for r in caplog.records if "decode_min_side" in r.getMessage()]
    # The tiny ResNet takes 64-pixel squares: a smaller decode side is warned about.
    assert reduced.image_input_side == 64
    with caplog.at_level("WARNING", logger="worker.model.moderation"):
        ModerationModel.load(make_settings(decode_min_side=63))
    assert "MODERATION_DECODE_MIN_SIDE=64" in caplog.text
