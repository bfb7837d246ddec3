"""Where a post's images are fetched and its reference resolved, before batching.

Example::

    preparer = Preparer(settings, fetcher, cache)
    await preparer.prepare(job)   # fills job.images, job.reference, job.fetch_ms
"""

from __future__ import annotations

import asyncio
import logging
import time

from worker.cache import EmbeddingCache, SeenPost
from worker.errors import CacheError, FetchError
from worker.fetch import ImageFetcher
from worker.jobs import ImageSlot, Job, ResolvedReference
from worker.messages import Reference
from worker.settings import Settings

__all__ = ["Preparer"]

log = logging.getLogger(__name__)


class Preparer:
    """Fetches images and resolves references; failures are recorded, never raised."""

    def __init__(self, settings: Settings, fetcher: ImageFetcher, cache: EmbeddingCache | None) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.cache = cache

    async def prepare(self, job: Job) -> None:
        started = time.perf_counter()
        post = job.post
        job.images = [ImageSlot(url) for url in post.image_urls]
        reference = None
        if post.reference is not None:
            reference = await self._resolve(post.reference, job)
        slots = list(job.images) + (reference.images if reference is not None else [])
        await asyncio.gather(*(self._fetch(slot) for slot in slots), self._remember(job))
        job.reference = reference
        job.fetch_ms = (time.perf_counter() - started) * 1000

    async def _fetch(self, slot: ImageSlot) -> None:
        try:
            slot.image = await self.fetcher.fetch(slot.url)
        except FetchError as exc:
            slot.error = exc

    async def _resolve(self, ref: Reference, job: Job) -> ResolvedReference:
        resolved = ResolvedReference(id=ref.id, relation=ref.relation)
        if ref.is_inline:
            seen = SeenPost(text=ref.text or "", image_urls=tuple(ref.image_urls or ()))
        elif self.cache is None:
            resolved.unavailable = "reference by id needs the cache, which is disabled"
            return resolved
        else:
            try:
                found = await self.cache.recall_post(ref.id)
            except CacheError as exc:
                job.degraded.add("cache_unavailable")
                resolved.unavailable = f"reference {ref.id} could not be looked up: {exc}"
                return resolved
            if found is None:
                resolved.unavailable = f"post {ref.id} was not seen or has expired"
                return resolved
            seen = found
        resolved.text = seen.text
        resolved.images = [ImageSlot(url) for url in seen.image_urls]
        return resolved

    async def _remember(self, job: Job) -> None:
        """Store the post so later posts can reference it by id."""
        if self.cache is None:
            return
        seen = SeenPost(text=job.post.text, image_urls=tuple(job.post.image_urls))
        try:
            await self.cache.remember_post(job.post.id, seen)
        except CacheError as exc:
            job.degraded.add("cache_unavailable")
            log.warning("could not remember post %s: %s", job.post.id, exc)
