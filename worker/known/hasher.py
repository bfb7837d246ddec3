"""Where a post's images get their PDQ hash and are matched against the hash banks.

A hash is computed once per image content: looked up in Redis by the image's sha256
first (beside the encoder outputs), computed from the decoded pixels otherwise, on a
thread of its own (the event loop keeps serving the Kafka consumer), then stored.
An image known from the URL memo (not fetched, no pixels) takes its hash from the
cache; where the cache no longer has it, the memo entry is dropped so the image is
fetched: an image must never skip bank matching because its embeddings were cached.

Only a post's own images are hashed and matched; a referenced post is matched as a
post of its own.

Example::

    stage = KnownStage(cache, known, min_quality=50)
    remembered = await stage.recall(remembered, degraded)   # before fetching: memo'd images
    images = await stage.hash(images, degraded)              # after: the rest, then the banks
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import ImageSlot
from worker.known.matcher import BankMatch, KnownContent
from worker.known.pdq import PdqHash, compute_pdq
from worker.ops.logs import cache_warnings

__all__ = ["KnownStage"]

log = logging.getLogger(__name__)


class KnownStage:
    """PDQ for every image of a post, cached by content, and its bank matches."""

    def __init__(self, cache: EmbeddingCache | None, known: KnownContent | None, min_quality: int) -> None:
        self.cache = cache
        self.known = known
        self.min_quality = min_quality
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="pdq")

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    async def recall(self, remembered: Mapping[str, ImageSlot], degraded: set[str]) -> dict[str, ImageSlot]:
        """Memo'd images (URL -> slot) with their cached hash; those without one are left
        out, to be fetched and hashed."""
        if not remembered:
            return {}
        found = await self._cached([slot.content_sha256 for slot in remembered.values()], degraded)
        return {
            url: replace(slot, pdq=found[slot.content_sha256])
            for url, slot in remembered.items()
            if slot.content_sha256 in found
        }

    async def hash(self, images: Sequence[ImageSlot], degraded: set[str]) -> tuple[ImageSlot, ...]:
        """The post's images with their hash (cached, else computed) and bank matches."""
        fetched = [slot for slot in images if slot.image is not None and slot.pdq is None]
        hashes: dict[str, PdqHash] = {}
        if fetched:
            hashes = await self._cached([slot.content_sha256 for slot in fetched], degraded)
            fresh = [slot for slot in fetched if slot.content_sha256 not in hashes]
            loop = asyncio.get_running_loop()
            computed = await loop.run_in_executor(self._executor, _compute, fresh)
            await self._store(computed, degraded)
            hashes.update(computed)
        hashed = [
            replace(slot, pdq=hashes[slot.content_sha256])
            if slot.pdq is None and slot.usable and slot.content_sha256 in hashes
            else slot
            for slot in images
        ]
        if self.known is None or not any(slot.pdq is not None for slot in hashed):
            return tuple(hashed)
        loop = asyncio.get_running_loop()
        # The index lookup (and a reload, when the bank files changed) is CPU work too.
        matches = await loop.run_in_executor(self._executor, self._match, hashed)
        return tuple(
            replace(slot, known=matches[i]) if i in matches else slot for i, slot in enumerate(hashed)
        )

    def _match(self, slots: list[ImageSlot]) -> dict[int, tuple[BankMatch, ...]]:
        known = self.known
        if known is None:
            return {}
        return {
            i: known.match(slot.pdq.digest)
            for i, slot in enumerate(slots)
            if slot.pdq is not None and slot.pdq.quality >= self.min_quality
        }

    async def _cached(self, shas: list[str], degraded: set[str]) -> dict[str, PdqHash]:
        if self.cache is None:
            return {}
        try:
            return await self.cache.get_pdq_many(shas)
        except CacheError as exc:
            degraded.add("cache_unavailable")
            cache_warnings.warning(log, "pdq-lookup", "PDQ cache unavailable, hashing: %s", exc)
            return {}

    async def _store(self, computed: dict[str, PdqHash], degraded: set[str]) -> None:
        if self.cache is None or not computed:
            return
        try:
            await self.cache.put_pdq_many(computed)
        except CacheError as exc:
            degraded.add("cache_unavailable")
            cache_warnings.warning(log, "pdq-store", "could not cache PDQ hashes: %s", exc)


def _compute(slots: list[ImageSlot]) -> dict[str, PdqHash]:
    """Runs on the PDQ thread; an image the library cannot hash is left without one."""
    out: dict[str, PdqHash] = {}
    for slot in slots:
        sha = slot.content_sha256
        if sha in out or slot.image is None:
            continue
        try:
            out[sha] = compute_pdq(slot.image.image)
        except Exception as exc:  # the C++ binding's errors have no common type
            log.warning("no PDQ hash for %s: %s: %s", slot.url, type(exc).__name__, exc)
    return out
