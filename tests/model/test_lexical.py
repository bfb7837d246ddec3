"""The entailment head's lexical component: overlap features, trees as tensors, the blend."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worker.errors import ModelError
from worker.model.entailment import EntailmentHead
from worker.model.lexical import LEXICAL_FEATURES, TreeEnsemble, lexical_row, pair_features
from worker.names import ENTAILMENT_LABELS


def named(text_a: str, text_b: str) -> dict[str, float]:
    return dict(zip(LEXICAL_FEATURES, pair_features(text_a, text_b), strict=False))


def test_a_retweet_with_another_link_is_the_same_text() -> None:
    f = named("Polls close at 8pm #vote https://t.co/abc", "polls close at 8PM #Vote")
    assert f["same_text"] == 1.0 and f["word_jaccard"] == 1.0 and f["sequence_ratio"] == 1.0
    assert f["hashtag_jaccard"] == 1.0 and f["url_count_gap"] == 1.0


def test_a_correction_shares_mentions_but_not_numbers() -> None:
    f = named("@cityhall says 5 injured downtown", "@cityhall now says 7 injured downtown")
    assert f["mention_jaccard"] == 1.0
    assert f["number_jaccard"] == 0.0 and f["numbers_differ"] == 1.0
    assert f["words_of_a_in_b"] == 1.0 - 1 / 5  # "5" is the only word of a missing from b
    assert 0 < f["word_jaccard"] < 1 and f["same_text"] == 0.0


def test_unrelated_tweets_overlap_little() -> None:
    f = named("Sunny skies all week in the valley", "Stock markets fell sharply on Friday")
    assert f["word_jaccard"] == 0.0 and f["mention_jaccard"] == 0.0 and f["numbers_differ"] == 0.0
    assert f["char3_jaccard"] < 0.1


def test_lexical_row_adds_the_cosine_and_is_nan_without_both_texts() -> None:
    a, b = np.array([1.0, 0.0], np.float32), np.array([1.0, 1.0], np.float32)
    row = lexical_row("one", "two", a, b)
    assert len(row) == len(LEXICAL_FEATURES)
    assert row[-1] == pytest.approx(1 / math.sqrt(2))
    for missing in (
        lexical_row("", "two", a, b),
        lexical_row("one", None, a, b),
        lexical_row("one", "two", None, b),
    ):
        assert all(math.isnan(v) for v in missing)


def hand_built() -> TreeEnsemble:
    """Two depth-2 trees: tree 0 (class 0) splits x0 at 0.5, then x1 at 0.2 on the left;
    tree 1 (class 2) never splits (its root's threshold is +inf)."""
    trees = TreeEnsemble(trees=2, depth=2)
    trees.klass = torch.tensor([0, 2])
    trees.feature[0] = torch.tensor([0, 1, 0])
    trees.threshold[0] = torch.tensor([0.5, 0.2, math.inf])
    trees.leaf[0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    trees.leaf[1] = torch.tensor([-1.0, 9.0, 9.0, 9.0])
    trees.base = torch.tensor([0.1, 0.2, 0.3])
    return trees


def test_trees_route_rows_by_their_thresholds() -> None:
    x = torch.tensor([[0.0, 0.0], [0.0, 0.9], [0.7, 0.0], [0.5, 0.2]])
    logits = hand_built()(x)
    torch.testing.assert_close(logits[:, 0], torch.tensor([1.0, 2.0, 3.0, 1.0]) + 0.1)
    torch.testing.assert_close(logits[:, 1], torch.full((4,), 0.2))
    torch.testing.assert_close(logits[:, 2], torch.full((4,), -1.0 + 0.3))  # always the left-most leaf


def head_with_trees(weight: float) -> EntailmentHead:
    head = EntailmentHead(4, dropout=0.0, lexical_trees=2, lexical_depth=2, lexical_weight=weight).eval()
    head.lexical.load_state_dict(hand_built().state_dict())  # type: ignore[union-attr]
    return head


def inputs(n: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [torch.randn(n, 4, generator=generator) for _ in range(4)] + [torch.ones(n, 4, dtype=torch.bool)]


def lexical(n: int) -> torch.Tensor:
    rows = torch.zeros(n, len(LEXICAL_FEATURES))
    rows[:, 0] = torch.linspace(0, 1, n)
    return rows


def test_the_blend_weighs_mlp_and_trees() -> None:
    head, posts, rows = head_with_trees(0.25), inputs(4), lexical(4)
    mlp = torch.softmax(head(*posts), dim=-1)
    trees = torch.softmax(head.lexical(rows), dim=-1)  # type: ignore[misc]
    torch.testing.assert_close(head.probabilities(*posts, rows), 0.75 * mlp + 0.25 * trees)
    torch.testing.assert_close(head.probabilities(*posts), mlp)  # no texts: the MLP alone
    rows[1] = torch.nan
    blended = head.probabilities(*posts, rows)
    torch.testing.assert_close(blended[1], mlp[1])
    torch.testing.assert_close(blended.sum(dim=-1), torch.ones(4))


def test_reordering_outputs_moves_the_trees_too() -> None:
    head, posts, rows = head_with_trees(0.5), inputs(4), lexical(4)
    trained_order = head.probabilities(*posts, rows)
    # Trained with outputs in the order Implies, NoEntailment, Contradictory:
    label_map = {"Implies": 0, "NoEntailment": 1, "Contradictory": 2}
    head.reorder_outputs(label_map)
    reordered = head.probabilities(*posts, rows)
    for i, label in enumerate(ENTAILMENT_LABELS):
        torch.testing.assert_close(reordered[:, i], trained_order[:, label_map[label]])


def test_a_lexical_weight_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ModelError, match="lexical weight"):
        EntailmentHead(4, lexical_trees=3, lexical_weight=1.5)
