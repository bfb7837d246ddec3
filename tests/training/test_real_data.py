"""The reference tweet pairs read as the issue describes them (skipped where ../shared/data is absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from moderation_lab.demo.data import find_data_dir

from worker.names import ENTAILMENT_LABELS
from worker.training.data import read_entailment_csv
from worker.training.metrics import majority_baseline

DATA = find_data_dir()
pytestmark = pytest.mark.skipif(DATA is None, reason="../shared/data/multimodal-entailment is not here")


def _pairs(split: str) -> list[str]:
    assert DATA is not None
    return [p.label for p in read_entailment_csv(Path(DATA) / "multimodal-entailment" / f"{split}_df.csv")]


@pytest.mark.parametrize(
    ("split", "counts"),
    [
        ("train", {"NoEntailment": 1011, "Implies": 93, "Contradictory": 93}),
        ("val", {"NoEntailment": 53, "Implies": 5, "Contradictory": 5}),
    ],
)
def test_splits_and_their_majority_baseline(split: str, counts: dict[str, int]) -> None:
    labels = _pairs(split)
    assert Counter(labels) == counts
    baseline = majority_baseline(np.array([ENTAILMENT_LABELS.index(x) for x in labels]), ENTAILMENT_LABELS)
    assert baseline.macro_f1 == pytest.approx(0.305, abs=0.002)
    assert baseline.accuracy > 0.84
