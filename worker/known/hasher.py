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
    await stage.recall(job)     # before fetching: hashes of memo'd images
    await stage.hash(job)       # after fetching: the rest, then the bank lookups
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import ImageSlot, Job
from worker.known.matcher import KnownContent
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

    async def recall(self, job: Job) -> None:
        """Give memo'd images their cached hash, or send them back to be fetched."""
        remembered = [slot for slot in job.images if slot.image is None and slot.memo is not None]
        if not remembered:
            return
        found = await self._cached(job, [slot.content_sha256 for slot in remembered])
        for slot in remembered:
            slot.pdq = found.get(slot.content_sha256)
            if slot.pdq is None:
                slot.memo, slot.vectors = None, {}

    async def hash(self, job: Job) -> None:
        """Hash the fetched images that have no hash yet, and match every hashed image."""
        fetched = [slot for slot in job.images if slot.image is not None and slot.pdq is None]
        if fetched:
            found = await self._cached(job, [slot.content_sha256 for slot in fetched])
            fresh = [slot for slot in fetched if slot.content_sha256 not in found]
            for slot in fetched:
                slot.pdq = found.get(slot.content_sha256)
            loop = asyncio.get_running_loop()
            computed = await loop.run_in_executor(self._executor, _compute, fresh)
            for slot in fresh:
                slot.pdq = computed.get(slot.content_sha256)
            await self._store(job, computed)
        hashed = [slot for slot in job.images if slot.pdq is not None]
        if self.known is not None and hashed:
            loop = asyncio.get_running_loop()
            # The index lookup (and a reload, when the bank files changed) is CPU work too.
            await loop.run_in_executor(self._executor, self._match, hashed)

    def _match(self, slots: list[ImageSlot]) -> None:
        known = self.known
        if known is None:
            return
        for slot in slots:
            pdq = slot.pdq
            if pdq is not None and pdq.quality >= self.min_quality:
                slot.known = known.match(pdq.digest)

    async def _cached(self, job: Job, shas: list[str]) -> dict[str, PdqHash]:
        if self.cache is None:
            return {}
        try:
            return await self.cache.get_pdq_many(shas)
        except CacheError as exc:
            job.degraded.add("cache_unavailable")
            cache_warnings.warning(log, "pdq-lookup", "PDQ cache unavailable, hashing: %s", exc)
            return {}

    async def _store(self, job: Job, computed: dict[str, PdqHash]) -> None:
        if self.cache is None or not computed:
            return
        try:
            await self.cache.put_pdq_many(computed)
        except CacheError as exc:
            job.degraded.add("cache_unavailable")
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
