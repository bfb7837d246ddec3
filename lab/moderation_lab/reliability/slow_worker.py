"""TEST ONLY: ``python -m moderation_lab.reliability.slow_worker``, the real worker with a slow model.

It runs exactly ``moderation-worker run`` (same settings, app, pipeline, consumer),
except that every model batch first sleeps ``RELIABILITY_SCORE_DELAY_S`` seconds on
the inference thread: inference slower than the consumer's session timeout, made
on purpose. The production entry point has no such knob; only this module, which
the reliability scenarios start, reads that variable.

It also turns on aiokafka's group-coordinator log lines ("Joined group ..."), which
the scenario counts to prove that the slow model caused no rebalance.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from PIL import Image

from worker import cli
from worker.config.settings import Settings
from worker.messages import ModelIdentity
from worker.model import ModerationModel
from worker.model.types import FloatArray, PostFeatures, PostScores, Scorer

__all__ = ["DELAY_ENV", "SlowScorer", "main"]

DELAY_ENV = "RELIABILITY_SCORE_DELAY_S"
GROUP_LOGGER = "aiokafka.consumer.group_coordinator"


class SlowScorer:
    """A :class:`~worker.model.types.Scorer` whose ``score`` first sleeps ``delay_s``."""

    def __init__(self, inner: Scorer, delay_s: float) -> None:
        self._inner = inner
        self.delay_s = delay_s

    @property
    def identity(self) -> ModelIdentity:
        return self._inner.identity

    @property
    def encoder_ids(self) -> dict[str, str]:
        return self._inner.encoder_ids

    def tokenize(self, text: str) -> tuple[int, ...]:
        return self._inner.tokenize(text)

    def encode_texts(self, texts: Sequence[str]) -> FloatArray:
        return self._inner.encode_texts(texts)

    def encode_token_ids(self, token_ids: Sequence[Sequence[int]]) -> FloatArray:
        return self._inner.encode_token_ids(token_ids)

    def encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        return self._inner.encode_images(images)

    def clip_encode_texts(self, texts: Sequence[str]) -> FloatArray:
        return self._inner.clip_encode_texts(texts)

    def clip_encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        return self._inner.clip_encode_images(images)

    def classify(self, kind: str, inputs: Sequence[object]) -> FloatArray:
        return self._inner.classify(kind, inputs)

    def __getattr__(self, name: str) -> Any:
        """Everything else the worker reads of the model (``category_names``, ...), as is."""
        return getattr(self._inner, name)

    def score(self, posts: Sequence[PostFeatures]) -> list[PostScores]:
        time.sleep(self.delay_s)  # blocks the inference thread only, as a slow model would
        return self._inner.score(posts)


def main() -> None:
    delay_s = float(os.environ.get(DELAY_ENV, "4"))
    real_load = ModerationModel.load

    def slow_load(settings: Settings) -> SlowScorer:
        return SlowScorer(real_load(settings), delay_s)

    # Patched in this test process only; `run` itself is the production command.
    ModerationModel.load = slow_load  # type: ignore[method-assign,assignment]
    # A level set on this logger outlives `run` quieting its parent, "aiokafka".
    logging.getLogger(GROUP_LOGGER).setLevel(logging.INFO)
    sys.argv = ["moderation-worker", "run"]
    cli.main()


if __name__ == "__main__":
    main()
