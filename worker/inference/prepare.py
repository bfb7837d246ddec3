"""Where a post's images are fetched and its reference resolved, before batching.

Example::

    preparer = Preparer(settings, fetcher, cache)
    await preparer.prepare(job)   # fills job.images, job.reference, job.fetch_ms
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from worker.config.settings import Settings
from worker.errors import CacheError, FetchError
from worker.fetch.client import ImageFetcher
from worker.fetch.memo import ImageMemo
from worker.inference.cache import EmbeddingCache, SeenPost
from worker.inference.jobs import ImageSlot, Job, ResolvedReference
from worker.messages import Reference
from worker.model.classifiers import kind_modality
from worker.ops.logs import cache_warnings

__all__ = ["Preparer"]

log = logging.getLogger(__name__)

#: Posts kept in memory for references by id; Redis holds them for longer.
RECENT_POSTS = 10_000


class Preparer:
    """Fetches images and resolves references; failures are recorded, never raised."""

    def __init__(
        self,
        settings: Settings,
        fetcher: ImageFetcher,
        cache: EmbeddingCache | None,
        memo: ImageMemo | None = None,
        clip: bool = False,
    ) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.cache = cache
        self.memo = memo
        self.clip = clip
        # A reply often arrives while the post it replies to is still in flight here,
        # before Redis has it: look in this worker's memory first.
        self._recent: OrderedDict[str, SeenPost] = OrderedDict()

    async def prepare(self, job: Job) -> None:
        started = time.perf_counter()
        post = job.post
        self._note(post.id, SeenPost(text=post.text, image_urls=tuple(post.image_urls)))
        job.images = [ImageSlot(url) for url in post.image_urls]
        reference = None
        if post.reference is not None:
            reference = await self._resolve(post.reference, job)
        slots = list(job.images) + (reference.images if reference is not None else [])
        if self.memo is not None:
            await self.memo.lookup(self._needs(job, reference))
        to_fetch = [slot for slot in slots if not slot.usable]
        await asyncio.gather(*(self._fetch(slot, job) for slot in to_fetch), self._remember(job))
        if self.memo is not None:
            await self.memo.remember(to_fetch)
        job.reference = reference
        job.fetch_ms = (time.perf_counter() - started) * 1000

    def _needs(
        self, job: Job, reference: ResolvedReference | None
    ) -> list[tuple[ImageSlot, tuple[str, ...]]]:
        """Which embeddings each image is needed for: CLIP only for the post's own images."""
        post_kinds: tuple[str, ...] = ("image",)
        if self.clip and job.post.text.strip():
            post_kinds = ("image", "clip_image")
        if self.memo is not None:  # the added image classifiers read the post's images too
            post_kinds += tuple(k for k in self.memo.encoder_ids if kind_modality(k) == "image")
        needs: list[tuple[ImageSlot, tuple[str, ...]]] = [(slot, post_kinds) for slot in job.images]
        if reference is not None:
            needs += [(slot, ("image",)) for slot in reference.images]
        return needs

    async def _fetch(self, slot: ImageSlot, job: Job) -> None:
        try:
            slot.image = await self.fetcher.fetch(slot.url)
        except FetchError as exc:
            slot.error = exc
            if exc.retriable:
                # A host that is down or slow, not a bad URL: the verdict is made
                # without an image that may well be there later.
                job.degraded.add("images_unavailable")

    async def _resolve(self, ref: Reference, job: Job) -> ResolvedReference:
        resolved = ResolvedReference(id=ref.id, relation=ref.relation)
        if ref.is_inline:
            seen: SeenPost | None = SeenPost(text=ref.text or "", image_urls=tuple(ref.image_urls or ()))
        else:
            seen = await self._wait_for(ref.id, job)
        if seen is None:
            where = "this worker's memory or the cache" if self.cache else "this worker's memory"
            resolved.unavailable = (
                f"post {ref.id} was not found in {where} "
                f"(waited {self.settings.reference_wait_ms:.0f} ms for it)"
            )
            return resolved
        resolved.text = seen.text
        resolved.images = [ImageSlot(url) for url in seen.image_urls]
        return resolved

    async def _wait_for(self, post_id: str, job: Job) -> SeenPost | None:
        """Find a referenced post, giving one still on its way (another partition,
        another worker) up to ``reference_wait_ms`` to show up."""
        deadline = time.monotonic() + self.settings.reference_wait_ms / 1000
        while True:
            if post_id in self._recent:
                return self._recent[post_id]
            if self.cache is not None:
                try:
                    found = await self.cache.recall_post(post_id)
                except CacheError as exc:
                    job.degraded.add("cache_unavailable")
                    cache_warnings.warning(
                        log, "post-lookup", "could not look up referenced post %s: %s", post_id, exc
                    )
                    found = None
                if found is not None:
                    return found
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _note(self, post_id: str, seen: SeenPost) -> None:
        self._recent[post_id] = seen
        self._recent.move_to_end(post_id)
        if len(self._recent) > RECENT_POSTS:
            self._recent.popitem(last=False)

    async def _remember(self, job: Job) -> None:
        """Store the post so later posts can reference it by id."""
        if self.cache is None:
            return
        seen = SeenPost(text=job.post.text, image_urls=tuple(job.post.image_urls))
        try:
            await self.cache.remember_post(job.post.id, seen)
        except CacheError as exc:
            job.degraded.add("cache_unavailable")
            cache_warnings.warning(log, "post-store", "could not remember post %s: %s", job.post.id, exc)
