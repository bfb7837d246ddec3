"""What a replay runs with, whatever the user set: reproducible, off the live topics and
out of Redis.

Example::

    pipeline_settings = replay_pipeline_settings(named_settings(...), "posts")
"""

from __future__ import annotations

from worker.config.settings import Settings

__all__ = ["DEAD_LETTERS", "FLAGGED", "VERDICTS", "replay_pipeline_settings"]

#: Output "topics" the replay pipeline publishes to; the replay sink routes them.
VERDICTS, FLAGGED, DEAD_LETTERS = "replay.verdicts", "replay.flagged", "replay.dead-letters"


def replay_pipeline_settings(settings: Settings, posts_topic: str) -> Settings:
    """What a replay pipeline runs with, whatever the user set.

    - one post per model batch, taken at once: batch composition changes float bits of
      padded encoders, so only a fixed composition gives the same scores every time;
    - no Redis: no embeddings computed elsewhere, no writes to the live cache; a
      reference by id resolves only to a post earlier in the replay, without waiting,
      so the same range resolves the same references every time;
    - its own output names, which only the replay sink knows.
    """
    return settings.model_copy(
        update={
            "posts_topic": posts_topic,
            "verdicts_topic": VERDICTS,
            "flagged_topic": FLAGGED,
            "dlq_topic": DEAD_LETTERS,
            "cache_enabled": False,
            "reference_wait_ms": 0.0,
            "max_batch": 1,
            "max_wait_ms": 0.0,
        }
    )
