"""Which parts of the model run on untrained (random) weights.

A part that was never trained still produces numbers, and numbers near a threshold
look like decisions. So every part knows whether it was trained: the heads from
their checkpoint (``heads.json`` lists the heads it trained), a model folder from an
``UNTRAINED`` marker file in it (the lab's tiny test models carry one). Categories
that depend on an untrained part are scored and published but never flag a post.

Example::

    parts = untrained_parts(settings, heads_config)    # ['bias_head', 'clip']
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from worker.config.settings import Settings
from worker.model.heads import HeadsConfig

__all__ = ["HEAD_PARTS", "UNTRAINED_MARKER", "marked_untrained", "untrained_parts", "warn_untrained"]

log = logging.getLogger(__name__)

#: A file of this name in a model folder says its weights are random.
UNTRAINED_MARKER: Final = "UNTRAINED"

#: heads.json name of a trained head -> its part name.
HEAD_PARTS: Final = {"bias": "bias_head", "entailment": "entailment_head"}


def marked_untrained(name: str | Path) -> bool:
    """True when ``name`` is a folder carrying the :data:`UNTRAINED_MARKER` file."""
    return (Path(name) / UNTRAINED_MARKER).is_file()


def _untrained_heads(settings: Settings, heads: HeadsConfig) -> list[str]:
    if settings.heads is None:
        return list(HEAD_PARTS.values())
    if heads.trained is None:
        return []  # written before heads.json said which heads it trained: presumed all
    return [part for head, part in HEAD_PARTS.items() if head not in heads.trained]


def untrained_parts(settings: Settings, heads: HeadsConfig) -> list[str]:
    """Sorted names of the parts whose weights were never trained."""
    parts = _untrained_heads(settings, heads)
    for part, folder in (("text_encoder", settings.text_encoder), ("image_encoder", settings.image_encoder)):
        if marked_untrained(folder):
            parts.append(part)
    if settings.clip_model and marked_untrained(settings.clip_model):
        parts.append("clip")
    for spec in settings.classifiers:
        if spec.source and marked_untrained(spec.source):
            parts.append(spec.part_name())
    return sorted(parts)


def warn_untrained(parts: Iterable[str], what: str = "model") -> None:
    """One WARNING at start naming every untrained part (nothing when all are trained)."""
    names = sorted(parts)
    if names:
        log.warning(
            "%s: UNTRAINED parts (random weights): %s; their scores are published but never flag a post",
            what,
            ", ".join(names),
        )
