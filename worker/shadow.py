"""A shadow model: a candidate scoring the same batches as the live model, its verdicts
published to the shadow topic only, never to ``verdicts`` or ``verdicts.flagged``.

It runs after the live model on the same inference thread budget, so it roughly
doubles the compute per post; its failures are logged and counted, and never hold
up or change a live verdict.

Example::

    shadow = Shadow(shadow_settings, candidate_scorer, cache)
    scored = await shadow.score(batch)          # None if the candidate failed
    verdict = shadow.verdict(scored[0], timings, now)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from worker.config.fingerprint import identity_with_settings
from worker.config.settings import Settings
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import Prepared, Scored
from worker.inference.runner import FeatureStage
from worker.messages import Timings, Verdict
from worker.model.choice import named_settings
from worker.model.types import Scorer
from worker.ops.metrics import PipelineStats
from worker.verdicts.build import build_verdict

__all__ = ["Shadow", "shadow_settings"]

log = logging.getLogger(__name__)


def shadow_settings(live: Settings) -> Settings | None:
    """The shadow model's settings: the live ones, its models, its overrides."""
    if live.shadow_model_dir is None:
        return None
    return named_settings(
        live, live.shadow_model_dir, live.shadow_settings, source="MODERATION_SHADOW_SETTINGS"
    )


class Shadow:
    """Scores batches with a candidate model and builds its verdicts."""

    def __init__(self, settings: Settings, scorer: Scorer, cache: EmbeddingCache | None) -> None:
        self.settings = settings
        self.identity = identity_with_settings(scorer.identity, settings)
        # Its own counters: the live model's cache hit rate stays the live one's.
        self.stats = PipelineStats()
        # Texts, not the live tokenizer's ids: the candidate may tokenize differently.
        self._features = FeatureStage(scorer, cache, self.stats, tokenized=False)
        self.failures = 0

    def close(self) -> None:
        self._features.close()

    async def score(self, batch: Sequence[Prepared]) -> list[Scored] | None:
        """The candidate's scores for the batch, or None if it failed (logged, counted)."""
        try:
            return await self._features.score(batch)
        except Exception:  # the candidate's problem, never the live stream's
            self.failures += 1
            log.exception("shadow model failed on a batch of %d", len(batch))
            return None

    def verdict(self, scored: Scored, timings: Timings, now: datetime) -> Verdict:
        """The candidate's verdict, with the live verdict's timings."""
        return build_verdict(scored, self.identity, self.settings, timings, now)
