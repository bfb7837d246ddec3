"""The audit tools' errors, below the worker's root :class:`~worker.errors.ModerationError`.

::

    ModerationError
    └── ReplayError        a replay cannot go on: bad range, unknown topic, unwritable output
        └── CompareError   verdict sets that cannot be read or do not overlap
"""

from __future__ import annotations

from worker.errors import ModerationError

__all__ = ["CompareError", "ReplayError"]


class ReplayError(ModerationError):
    kind = "replay_error"


class CompareError(ReplayError):
    kind = "compare_error"
