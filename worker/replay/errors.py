"""The audit tools' errors, defined in the one tree of :mod:`worker.errors`."""

from __future__ import annotations

from worker.errors import CompareError, ReplayError

__all__ = ["CompareError", "ReplayError"]
