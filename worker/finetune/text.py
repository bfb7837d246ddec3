"""The text a fine-tuned model reads: the worker's normaliser (worker.text.normalise), as at
training.

A model records the :data:`NORMALISER_ID` its texts went through (``identity``: none, for
models trained before the normaliser existed). It is served reading text the same way, and
refused under another normaliser than the one it was trained with.

Example::

    prepare(["Y0u are ＦＡＫＥ"])                      # normalised with this worker's normaliser
    prepare(texts, config.recipe.normaliser)           # as that model was trained
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from worker.errors import CheckpointError
from worker.text.normalise import NORMALISER_ID, normalise

__all__ = ["IDENTITY", "normaliser_id", "prepare"]

#: Texts read as written (models trained before the normaliser existed).
IDENTITY: Final = "identity"


def normaliser_id() -> str:
    return NORMALISER_ID


def prepare(texts: Sequence[str], normaliser: str | None = None) -> list[str]:
    """Each text as a model trained with ``normaliser`` reads it (default: this worker's)."""
    wanted = normaliser or NORMALISER_ID
    if wanted == IDENTITY:
        return list(texts)
    if wanted != NORMALISER_ID:
        raise CheckpointError(
            f"the model read texts through normaliser {wanted!r}; this worker's is {NORMALISER_ID!r}: "
            "train it again with this worker"
        )
    return [normalise(text).text for text in texts]
