"""The model options training uses (mean pooling, pair features) and the live path's agreement.

What ``train`` measures must be what the worker does: a checkpoint loaded by
``ModerationModel.load`` scores the pairs exactly as the heads scored them in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from worker.errors import ModelError
from worker.model import ModerationModel, PostFeatures, ReferenceFeatures
from worker.model.entailment import EntailmentHead
from worker.model.heads import HeadsConfig
from worker.training.boost import BoostConfig
from worker.training.data import read_entailment_csv
from worker.training.dataset import image_refs, prepare
from worker.training.fit import FitConfig, fit, predict
from worker.training.images import load_images
from worker.training.record import TrainConfig
from worker.training.store import NoStore
from worker.training.tasks import entailment_task, lexical_inputs, projections
from worker.training.train import load_for_training

from .conftest import MakeSettings

SHORT, LONG = "a photo of a cat", "breaking news: the city council votes on the new budget today, again"


def test_mean_pooling_ignores_padding_and_changes_the_cache_id(make_settings: MakeSettings) -> None:
    mean = ModerationModel.load(make_settings(), fresh_heads=HeadsConfig(text_pooling="mean"))
    cls = ModerationModel.load(make_settings())
    alone = mean.encode_texts([SHORT])[0]
    padded = mean.encode_texts([SHORT, LONG])[0]  # padded to LONG's length in one batch
    np.testing.assert_allclose(alone, padded, atol=1e-5)
    assert not np.allclose(alone, cls.encode_texts([SHORT])[0])
    assert mean.encoder_ids["text"] != cls.encoder_ids["text"]
    assert mean.encoder_ids["image"] == cls.encoder_ids["image"]


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ModelError, match="entailment features"):
        EntailmentHead(8, features="cross")


def test_pair_features_need_both_posts() -> None:
    head = EntailmentHead(4, dropout=0.0, features="pair").eval()
    a, b = torch.randn(1, 4), torch.randn(1, 4)
    no_image = torch.zeros(1, 4)
    with_text_b = torch.tensor([[True, False, True, False]])
    without_text_b = torch.tensor([[True, False, False, False]])
    # Whatever text_b holds, it counts for nothing when it is absent, interactions included.
    absent = [head(a, no_image, b * k, no_image, without_text_b) for k in (1.0, 5.0)]
    torch.testing.assert_close(absent[0], absent[1])
    assert not torch.allclose(head(a, no_image, b, no_image, with_text_b), absent[0])


@pytest.mark.parametrize("features", ["concat", "pair"])
def test_a_head_told_to_ignore_images_does(features: str) -> None:
    head = EntailmentHead(4, dropout=0.0, features=features).eval()
    text_a, text_b, image_a, image_b = (torch.randn(1, 4) for _ in range(4))
    with_images = torch.tensor([[True, True, True, True]])
    without = torch.tensor([[True, False, True, False]])
    assert not torch.allclose(
        head(text_a, image_a, text_b, image_b, with_images), head(text_a, image_a, text_b, image_b, without)
    )
    head.ignore_images()
    torch.testing.assert_close(
        head(text_a, image_a, text_b, image_b, with_images), head(text_a, image_a, text_b, image_b, without)
    )


def test_checkpoint_scores_as_trained(
    make_settings: MakeSettings, entailment_csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    settings = make_settings()
    config = TrainConfig(name="live", text_pooling="mean", projection_dim=16)
    model = load_for_training(settings, config)
    pairs = (read_entailment_csv(entailment_csvs[0]), read_entailment_csv(entailment_csvs[1]))
    prepared = prepare(model, NoStore(), load_images(image_refs(pairs, None), settings), pairs)
    data = prepared.entailment
    assert data is not None
    task = entailment_task(
        model.bias, model.entailment, prepared.tables, data.first, data.second, data.labels
    )
    fit(task, data.train_index, data.val_index, FitConfig(epochs=3), projections(model.bias))
    expected = predict(task, data.val_index)
    model.save_heads(tmp_path / "heads", name="live")

    live = ModerationModel.load(make_settings(heads=tmp_path / "heads"))
    assert live.heads.text_pooling == "mean" and live.heads.entailment_features == "pair"
    posts = []
    for pair in pairs[1]:
        text_a, text_b = live.encode_texts([pair.first.text, pair.second.text])
        posts.append(PostFeatures(text=text_b, reference=ReferenceFeatures(text=text_a)))
    scores = live.score(posts)
    got = np.array([s.entailment for s in scores], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_lexical_trees_score_live_as_in_training(
    make_settings: MakeSettings, entailment_csvs: tuple[Path, Path], tmp_path: Path
) -> None:
    """The trees are fitted on the training pairs, blended in training's predictions, saved,
    and the live worker (given the posts' texts, as features.py gives them) blends alike."""
    settings = make_settings()
    boost = BoostConfig(rounds=8, min_child=3, learning_rate=0.3)
    config = TrainConfig(
        name="lexical", text_pooling="mean", projection_dim=16, lexical=boost, lexical_weight=0.6
    )
    model = load_for_training(settings, config)
    pairs = (read_entailment_csv(entailment_csvs[0]), read_entailment_csv(entailment_csvs[1]))
    prepared = prepare(model, NoStore(), load_images(image_refs(pairs, None), settings), pairs)
    data = prepared.entailment
    assert data is not None
    table = lexical_inputs(prepared.tables, data.first, data.second, data.raw_texts)
    assert not np.isnan(table).any()
    task = entailment_task(
        model.bias, model.entailment, prepared.tables, data.first, data.second, data.labels, (table, boost, 0)
    )
    task.prepare_fold(data.train_index)
    assert model.entailment.lexical is not None
    assert bool(torch.isfinite(model.entailment.lexical.threshold).any())
    fit(task, data.train_index, data.val_index, FitConfig(epochs=3), projections(model.bias))
    expected = predict(task, data.val_index)
    mlp_alone = torch.softmax(task.logits(torch.from_numpy(data.val_index)), dim=-1).detach().numpy()
    assert not np.allclose(expected, mlp_alone, atol=1e-3)
    model.save_heads(tmp_path / "heads", name="lexical")

    live = ModerationModel.load(make_settings(heads=tmp_path / "heads"))
    assert (live.heads.lexical_trees, live.heads.lexical_weight) == (24, 0.6)
    with_words, without = [], []
    for pair in pairs[1]:
        text_a, text_b = live.encode_texts([pair.first.text, pair.second.text])
        reference = ReferenceFeatures(text=text_a, raw_text=pair.first.text)
        with_words.append(PostFeatures(text=text_b, reference=reference, raw_text=pair.second.text))
        without.append(PostFeatures(text=text_b, reference=ReferenceFeatures(text=text_a)))
    got = np.array([s.entailment for s in live.score(with_words)], dtype=np.float32)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    alone = np.array([s.entailment for s in live.score(without)], dtype=np.float32)
    np.testing.assert_allclose(alone, mlp_alone, atol=1e-5)
