"""How categories become flags: one threshold per category, and whether it flags or only scores.

The policy is configured in one place, ``MODERATION_POLICY`` (JSON, category name ->
rule), on top of defaults taken from the older per-head settings
(``MODERATION_BIAS_THRESHOLD``, ``MODERATION_CONTRADICTION_THRESHOLD``,
``MODERATION_CLIP_FLAG_LABELS``, ``MODERATION_CLIP_FLAG_THRESHOLD``). A category with
no rule flags at :data:`DEFAULT_THRESHOLD`.

Example::

    MODERATION_POLICY='{"hate": {"threshold": 0.6}, "offensive": {"flag": false}}'
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_THRESHOLD", "CategoryRule"]

#: Threshold of a category the policy does not name.
DEFAULT_THRESHOLD: Final = 0.5


class CategoryRule(BaseModel):
    """What one category does: flag at or above ``threshold``, or (``flag: false``) only score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(DEFAULT_THRESHOLD, ge=0, le=1, description="Score at or above which it flags.")
    flag: bool = Field(True, description="False: the category is scored and published, never flags.")
