"""The lab's errors. They never reach the worker package.

::

    LabError
    └── ServiceError   an embedded service (broker, redis-server) failed to start
"""

from __future__ import annotations

__all__ = ["LabError", "ServiceError"]


class LabError(Exception):
    """Root of the lab's own errors."""


class ServiceError(LabError):
    """An embedded service failed to start or to answer."""
