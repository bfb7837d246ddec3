"""ModerationModel.score over every shape of post."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from worker.errors import ModelError
from worker.model import ModerationModel, PostFeatures, PostScores, ReferenceFeatures
from worker.names import ENTAILMENT_LABELS


@pytest.fixture(scope="module")
def features(tiny_model: ModerationModel, sample_images: list[Image.Image]) -> dict[str, list[np.ndarray]]:
    texts = ["they always lie about everything", "a photo of a cat", "the claim is false"]
    return {
        "text": list(tiny_model.encode_texts(texts)),
        "image": list(tiny_model.encode_images(sample_images)),
        "clip_text": list(tiny_model.clip_encode_texts(texts)),
        "clip_image": list(tiny_model.clip_encode_images(sample_images)),
    }


@pytest.fixture(scope="module")
def posts(features: dict[str, list[np.ndarray]]) -> dict[str, PostFeatures]:
    text, image = features["text"], features["image"]
    clip_text, clip_image = features["clip_text"], features["clip_image"]
    return {
        "text_only": PostFeatures(text=text[0], clip_text=clip_text[0]),
        "image_only": PostFeatures(images=[image[0]], clip_images=[clip_image[0]]),
        "multi_image": PostFeatures(
            text=text[1], images=image[:3], clip_text=clip_text[1], clip_images=clip_image[:3]
        ),
        "with_reference": PostFeatures(
            text=text[2],
            images=[image[1]],
            clip_text=clip_text[2],
            clip_images=[clip_image[1]],
            reference=ReferenceFeatures(text=text[0], images=[image[2], image[0]]),
        ),
        "reference_text_only": PostFeatures(images=[image[2]], reference=ReferenceFeatures(text=text[1])),
        "reference_image_only": PostFeatures(text=text[0], reference=ReferenceFeatures(images=[image[1]])),
        "empty_reference": PostFeatures(text=text[0], reference=ReferenceFeatures()),
    }


def check_ranges(scores: PostScores) -> None:
    assert 0 <= scores.bias_score <= 1 and math.isfinite(scores.bias_score)
    assert all(0 <= s <= 1 for s in scores.bias_image_scores)
    if scores.bias_image_scores:
        assert scores.bias_score == max(scores.bias_image_scores)
    if scores.entailment is not None:
        assert len(scores.entailment) == len(ENTAILMENT_LABELS)
        assert all(0 <= p <= 1 for p in scores.entailment)
        assert sum(scores.entailment) == pytest.approx(1, abs=1e-5)
    assert all(-1 - 1e-5 <= s <= 1 + 1e-5 for s in scores.clip_similarity)
    if scores.clip_zero_shot is not None:
        assert all(0 <= p <= 1 for p in scores.clip_zero_shot.values())


def test_every_kind_of_post_scores_in_range(
    tiny_model: ModerationModel, posts: dict[str, PostFeatures]
) -> None:
    results = dict(zip(posts, tiny_model.score(list(posts.values())), strict=True))
    for scores in results.values():
        check_ranges(scores)
    labels = set(tiny_model.settings.clip_labels)

    assert results["text_only"].bias_image_scores == []
    assert results["text_only"].clip_similarity == []
    assert results["text_only"].clip_zero_shot is None
    assert results["text_only"].entailment is None

    assert len(results["image_only"].bias_image_scores) == 1
    assert results["image_only"].clip_similarity == []
    assert set(results["image_only"].clip_zero_shot or {}) == labels

    multi = results["multi_image"]
    assert len(multi.bias_image_scores) == 3 and len(multi.clip_similarity) == 3
    assert multi.entailment is None

    for name in ("with_reference", "reference_text_only", "reference_image_only"):
        assert results[name].entailment is not None, name
    assert results["empty_reference"].entailment is None


def test_zero_shot_is_the_maximum_over_images(
    tiny_model: ModerationModel, posts: dict[str, PostFeatures]
) -> None:
    multi = posts["multi_image"]
    [together] = tiny_model.score([multi])
    singles = [
        tiny_model.score([PostFeatures(text=multi.text, images=[image], clip_images=[clip])])[0]
        for image, clip in zip(multi.images, multi.clip_images, strict=True)
    ]
    for label, probability in (together.clip_zero_shot or {}).items():
        best = max((s.clip_zero_shot or {})[label] for s in singles)
        assert probability == pytest.approx(best, abs=1e-6)
    assert together.bias_image_scores == pytest.approx([s.bias_score for s in singles], abs=1e-6)


def test_batching_does_not_change_scores(tiny_model: ModerationModel, posts: dict[str, PostFeatures]) -> None:
    batch = tiny_model.score(list(posts.values()))
    for post, batched in zip(posts.values(), batch, strict=True):
        [alone] = tiny_model.score([post])
        assert alone.bias_score == pytest.approx(batched.bias_score, abs=1e-6)
        assert alone.bias_image_scores == pytest.approx(batched.bias_image_scores, abs=1e-6)
        if alone.entailment is None:
            assert batched.entailment is None
        else:
            assert alone.entailment == pytest.approx(batched.entailment, abs=1e-6)
        assert alone.clip_similarity == pytest.approx(batched.clip_similarity, abs=1e-6)


def test_untrained_heads_are_deterministic(
    tiny_model: ModerationModel, posts: dict[str, PostFeatures]
) -> None:
    again = ModerationModel.load(tiny_model.settings)
    post = posts["with_reference"]
    assert again.score([post]) == tiny_model.score([post])
    assert again.identity.heads == "untrained"


def test_empty_batches_and_bad_posts(
    tiny_model: ModerationModel, features: dict[str, list[np.ndarray]]
) -> None:
    assert tiny_model.score([]) == []
    with pytest.raises(ModelError, match="neither text nor images"):
        tiny_model.score([PostFeatures(clip_text=features["clip_text"][0])])
    fine = PostFeatures(text=features["text"][0])
    with pytest.raises(ModelError, match=r"^post 1 of 3 in the batch has neither text nor images$"):
        tiny_model.score([fine, PostFeatures(clip_text=features["clip_text"][0]), fine])
    wrong = np.zeros(7, dtype=np.float32)
    with pytest.raises(ModelError, match="another model"):
        tiny_model.score([PostFeatures(text=wrong)])
    with pytest.raises(ModelError, match="another model"):
        tiny_model.score([PostFeatures(text=features["text"][0], clip_images=[wrong])])
