"""The test-only slow scorer: same answers as the model it wraps, only later."""

from __future__ import annotations

import time

import numpy as np
from moderation_lab.reliability.slow_worker import SlowScorer

from tests.support.fakes import FakeScorer
from worker.model.types import PostFeatures, Scorer


def test_slow_scorer_delegates_and_sleeps_in_score() -> None:
    inner = FakeScorer()
    slow = SlowScorer(inner, delay_s=0.05)
    assert isinstance(slow, Scorer)
    assert slow.identity == inner.identity and slow.encoder_ids == inner.encoder_ids
    assert slow.tokenize("a b") == inner.tokenize("a b")
    features = [PostFeatures(text=np.array([3.0, 1.0], dtype=np.float32))]
    started = time.monotonic()
    assert slow.score(features) == inner.score(features)
    assert time.monotonic() - started >= 0.05


def test_slow_scorer_passes_on_what_the_worker_reads_of_the_model() -> None:
    inner = FakeScorer()
    inner.category_names = ("hate", "nudity")  # type: ignore[attr-defined]
    assert SlowScorer(inner, delay_s=0.0).category_names == ("hate", "nudity")
