"""The declared protocol's split: stratified, fixed by its seed, disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from worker.errors import ModelError
from worker.training.splits import holdout_split, validation_split


def test_the_split_is_stratified_disjoint_and_fixed() -> None:
    labels = ["hate"] * 50 + ["offensive"] * 400 + ["neither"] * 150
    split = holdout_split(labels)
    assert len(split.test) == 120 and len(split.train) == 480
    assert not set(split.train) & set(split.test)
    assert sorted([*split.train, *split.test]) == list(range(600))
    assert [labels[i] for i in split.test].count("hate") == 10  # a fifth of each class
    again = holdout_split(list(labels))
    assert np.array_equal(split.test, again.test) and split.fingerprint == again.fingerprint
    other = holdout_split(labels, seed=1)
    assert other.fingerprint != split.fingerprint


def test_the_validation_part_comes_from_the_training_rows() -> None:
    labels = ["a", "b"] * 100
    split = holdout_split(labels)
    val = validation_split(labels, split.train)
    assert set(val.train) | set(val.test) == set(split.train)
    assert not set(val.test) & set(split.test)
    assert [labels[i] for i in val.test].count("a") == len(val.test) // 2


def test_a_class_too_small_to_stratify_is_refused() -> None:
    with pytest.raises(ModelError, match="'b' has 1 row"):
        holdout_split(["a"] * 10 + ["b"])
