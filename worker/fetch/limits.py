"""How many image fetches may run at once: overall, and per host.

A post can name four images and a batch hundreds of posts; without a bound, one slow
host would soon hold every socket and every other host would wait behind it.

Example::

    limits = FetchLimits(total=32, per_host=8)
    async with limits.hold("cdn.example.org"):
        ...  # at most 8 of these for that host, 32 in all
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

__all__ = ["FetchLimits"]


class FetchLimits:
    """A global semaphore plus per-host ones, dropped when idle so the table stays small."""

    def __init__(self, total: int, per_host: int) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        # Host first, so waiters for one busy host do not sit on the global slots.
        async with self._host(host), self._total:
            yield

    @contextlib.asynccontextmanager
    async def _host(self, host: str) -> AsyncIterator[None]:
        sem, users = self._hosts.get(host, (asyncio.Semaphore(self._per_host), 0))
        self._hosts[host] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem, users = self._hosts[host]
            if users == 1:
                del self._hosts[host]
            else:
                self._hosts[host] = (sem, users - 1)
