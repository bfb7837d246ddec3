"""What a running worker lacks that its operator should know, one line each.

A worker without its trained categories (an empty ``MODERATION_CATEGORY_DIR``), with
an empty hash-bank folder, or whose CLIP labels only score (no threshold chosen) still
moderates what it can; it
says what it lacks in a warning at start and in ``/readyz``'s ``missing`` list,
rather than failing or staying silent.

Example::

    notes = missing_parts(settings)   # ("no trained categories: /models/categories holds ...",)
"""

from __future__ import annotations

import logging

from worker.config.settings import Settings
from worker.known.banks import MANIFEST
from worker.model.category_dir import scan
from worker.verdicts.policy import Policy

__all__ = ["log_missing", "missing_parts"]

log = logging.getLogger(__name__)


def missing_parts(settings: Settings) -> tuple[str, ...]:
    """One line per thing this configuration lacks (empty when nothing is)."""
    notes = list(scan(settings.category_dir).missing)
    banks = settings.known_banks
    if banks is not None and not (banks / MANIFEST).is_file():
        notes.append(
            f"no hash banks: {banks} has no {MANIFEST} yet, so no image is matched (docs/known-content.md)"
        )
    unmeasured = Policy.from_settings(settings).unmeasured
    if settings.clip_model and unmeasured:
        notes.append(
            f"CLIP labels {list(unmeasured)} only score: no threshold was chosen for them; set "
            "MODERATION_CLIP_FLAG_THRESHOLD or a threshold in MODERATION_POLICY once measured "
            "(docs/categories.md)"
        )
    return tuple(notes)


def log_missing(notes: tuple[str, ...]) -> None:
    for note in notes:
        log.warning("missing: %s", note)
