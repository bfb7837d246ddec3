"""A shadow model: a candidate scoring the same batches as the live model, its verdicts
published to the shadow topic only, never to ``verdicts`` or ``verdicts.flagged``.

It runs after the live model on the same inference thread budget, so it roughly
doubles the compute per post; its failures are logged and counted, and never hold
up or change a live verdict.

Example::

    shadow = Shadow(shadow_settings, candidate_scorer, cache)
    verdicts = await shadow.verdicts(batch)   # None if the candidate failed
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from worker.config.fingerprint import identity_with_settings
from worker.config.settings import Settings
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import Job
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
        self._features = FeatureStage(scorer, cache, self.stats)
        self.failures = 0

    def close(self) -> None:
        self._features.close()

    async def verdicts(self, batch: Sequence[Job], started: float, clock: float) -> list[Verdict] | None:
        try:
            scores, _ = await self._features.score(batch)
        except Exception:  # the candidate's problem, never the live stream's
            self.failures += 1
            log.exception("shadow model failed on a batch of %d", len(batch))
            return None
        now = datetime.now(UTC)
        inference_ms = round(max(0.0, clock - started) * 1000, 3)
        out = []
        for job, score in zip(batch, scores, strict=True):
            timings = Timings(
                fetch_ms=round(job.fetch_ms, 3),
                queue_ms=round(max(0.0, started - job.arrived) * 1000, 3),
                inference_ms=inference_ms,
                total_ms=0.0,
                batch_size=len(batch),
            )
            out.append(build_verdict(job, score, self.identity, self.settings, timings, now))
        return out
