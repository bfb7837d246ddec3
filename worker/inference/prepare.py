"""Where a post's images are fetched, its reference resolved and its text tokenized, before batching.

Example::

    preparer = Preparer(fetcher, cache, reference_wait_ms=1000, tokenize=scorer.tokenize)
    prepared = await preparer.prepare(received)   # images, reference, token ids, fetch time
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from worker.errors import CacheError, FetchError, RefusedURL
from worker.fetch.client import ImageFetcher
from worker.fetch.memo import ImageMemo, Needs
from worker.fetch.refusals import refuse_urls
from worker.inference.cache import EmbeddingCache, SeenPost
from worker.inference.jobs import ImageSlot, Prepared, Received, ResolvedReference, TokenIds
from worker.inference.windows import WindowPolicy
from worker.known.hasher import KnownStage
from worker.messages import Reference
from worker.model.classifiers import kind_modality
from worker.ops.logs import cache_warnings

__all__ = ["Preparer"]

log = logging.getLogger(__name__)

#: Posts kept in memory for references by id; Redis holds them for longer.
RECENT_POSTS = 10_000


class Preparer:
    """Fetches images, resolves references, tokenizes texts; failures are recorded, never raised."""

    def __init__(
        self,
        fetcher: ImageFetcher,
        cache: EmbeddingCache | None,
        memo: ImageMemo | None = None,
        *,
        reference_wait_ms: float,
        clip: bool = False,
        tokenize: Callable[[str], TokenIds] | None = None,
        known: KnownStage | None = None,
        windows: WindowPolicy | None = None,
    ) -> None:
        self.windows = windows or WindowPolicy()
        self.reference_wait_s = reference_wait_ms / 1000
        self.fetcher = fetcher
        self.cache = cache
        self.memo = memo
        self.clip = clip
        self.known = known
        self._tokenize = tokenize
        # Tokenizing takes a millisecond or more per text: off the event loop, on a thread
        # of its own so it never waits behind a batch on the inference thread.
        self._tokenizer = ThreadPoolExecutor(1, thread_name_prefix="tokenizer") if tokenize else None
        # A reply often arrives while the post it replies to is still in flight here,
        # before Redis has it: look in this worker's memory first.
        self._recent: OrderedDict[str, SeenPost] = OrderedDict()

    def close(self) -> None:
        if self._tokenizer is not None:
            self._tokenizer.shutdown(wait=True)

    async def prepare(self, received: Received) -> Prepared:
        started = time.perf_counter()
        post = received.post
        degraded: set[str] = set()
        self._note(post.id, SeenPost(text=post.text, image_urls=tuple(post.image_urls)))
        reference = None
        if post.reference is not None:
            reference = await self._resolve(post.reference, degraded)
        # URLs that are not fetched at all (worker.fetch.refusals) keep their slot, with why.
        refused = refuse_urls(post.image_urls)
        own_urls = [url for n, url in enumerate(post.image_urls) if n not in refused]
        ref_refused = refuse_urls(reference.images_urls) if reference is not None else {}
        ref_urls = (
            [url for n, url in enumerate(reference.images_urls) if n not in ref_refused] if reference else []
        )
        remembered = await self._memo_lookup(own_urls, ref_urls, bool(post.text.strip()))
        if self.known is not None:
            remembered = await self._with_cached_pdq(remembered, own_urls, degraded)
        to_fetch = sorted({url for url in [*own_urls, *ref_urls] if url not in remembered})
        windows = self.windows.split(post.text)
        fetched, window_tokens, _ = await asyncio.gather(
            self._fetch_all(to_fetch, degraded),
            self._window_tokens(windows.texts(post.text)),
            self._remember(received, degraded),
        )
        slots = {**fetched, **remembered}
        if self.memo is not None:
            await self.memo.remember([slot.image for slot in fetched.values() if slot.image is not None])
        images = _in_order(post.image_urls, refused, slots)
        if self.known is not None:
            images = await self.known.hash(images, degraded)
        return Prepared(
            received=received,
            images=images,
            reference=await self._finish_reference(reference, slots, ref_refused),
            fetch_ms=(time.perf_counter() - started) * 1000,
            window_tokens=window_tokens,
            degraded=frozenset(degraded),
            text_windows=windows,
        )

    async def _window_tokens(self, texts: list[str]) -> tuple[TokenIds | None, ...]:
        return tuple([await self._tokens(text) for text in texts])

    async def _memo_lookup(
        self, post_urls: list[str], ref_urls: list[str], has_text: bool
    ) -> dict[str, ImageSlot]:
        """Images known from the memo; CLIP embeddings are needed for the post's own only."""
        if self.memo is None:
            return {}
        post_kinds: tuple[str, ...] = ("image", "clip_image") if self.clip and has_text else ("image",)
        # The added image classifiers read the post's own images too.
        post_kinds += tuple(k for k in self.memo.encoder_ids if kind_modality(k) == "image")
        needs: Needs = [(url, post_kinds) for url in post_urls] + [(url, ("image",)) for url in ref_urls]
        return {
            url: ImageSlot(url, memo=meta, vectors=vectors)
            for url, (meta, vectors) in (await self.memo.lookup(needs)).items()
        }

    async def _with_cached_pdq(
        self, remembered: dict[str, ImageSlot], own_urls: list[str], degraded: set[str]
    ) -> dict[str, ImageSlot]:
        """A post's own memo'd images with their cached PDQ hash; those whose hash left the
        cache are dropped from ``known``, so they are fetched and hashed: an image never skips
        bank matching because its embeddings were cached."""
        assert self.known is not None
        own = {url: remembered[url] for url in own_urls if url in remembered}
        kept = await self.known.recall(own, degraded)
        return {url: kept.get(url, slot) for url, slot in remembered.items() if url not in own or url in kept}

    async def _fetch_all(self, urls: list[str], degraded: set[str]) -> dict[str, ImageSlot]:
        slots = await asyncio.gather(*(self._fetch(url, degraded) for url in urls))
        return {slot.url: slot for slot in slots}

    async def _fetch(self, url: str, degraded: set[str]) -> ImageSlot:
        try:
            return ImageSlot(url, image=await self.fetcher.fetch(url))
        except FetchError as exc:
            if exc.retriable:
                # A host that is down or slow, not a bad URL: the verdict is made
                # without an image that may well be there later.
                degraded.add("images_unavailable")
            return ImageSlot(url, error=exc)

    async def _tokens(self, text: str) -> TokenIds | None:
        if self._tokenize is None or self._tokenizer is None or not text.strip():
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._tokenizer, self._tokenize, text)

    async def _resolve(self, ref: Reference, degraded: set[str]) -> _Reference:
        if ref.is_inline:
            seen: SeenPost | None = SeenPost(text=ref.text or "", image_urls=tuple(ref.image_urls or ()))
        else:
            seen = await self._wait_for(ref.id, degraded)
        if seen is None:
            where = "this worker's memory or the cache" if self.cache else "this worker's memory"
            waited = f"waited {self.reference_wait_s * 1000:.0f} ms for it"
            unavailable = f"post {ref.id} was not found in {where} ({waited})"
            return _Reference(ref, "", (), unavailable)
        return _Reference(ref, seen.text, seen.image_urls, None)

    async def _finish_reference(
        self, ref: _Reference | None, slots: dict[str, ImageSlot], refused: dict[int, RefusedURL]
    ) -> ResolvedReference | None:
        if ref is None:
            return None
        return ResolvedReference(
            id=ref.source.id,
            relation=ref.source.relation,
            text=ref.text,
            images=_in_order(list(ref.images_urls), refused, slots),
            unavailable=ref.unavailable,
            token_ids=await self._tokens(ref.text),
        )

    async def _wait_for(self, post_id: str, degraded: set[str]) -> SeenPost | None:
        """Find a referenced post, giving one still on its way (another partition,
        another worker) up to ``reference_wait_ms`` to show up."""
        deadline = time.monotonic() + self.reference_wait_s
        while True:
            if post_id in self._recent:
                return self._recent[post_id]
            if self.cache is not None:
                try:
                    found = await self.cache.recall_post(post_id)
                except CacheError as exc:
                    degraded.add("cache_unavailable")
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

    async def _remember(self, received: Received, degraded: set[str]) -> None:
        """Store the post so later posts can reference it by id."""
        if self.cache is None:
            return
        post = received.post
        try:
            await self.cache.remember_post(
                post.id, SeenPost(text=post.text, image_urls=tuple(post.image_urls))
            )
        except CacheError as exc:
            degraded.add("cache_unavailable")
            cache_warnings.warning(log, "post-store", "could not remember post %s: %s", post.id, exc)


@dataclass(frozen=True, slots=True)
class _Reference:
    """A reference resolved to text and image URLs, before its images are fetched."""

    source: Reference
    text: str
    images_urls: tuple[str, ...]
    unavailable: str | None


def _in_order(
    urls: list[str], refused: dict[int, RefusedURL], slots: dict[str, ImageSlot]
) -> tuple[ImageSlot, ...]:
    """One slot per URL, in the post's order: refused ones with their reason."""
    return tuple(
        ImageSlot(url, error=refused[n]) if n in refused else slots[url] for n, url in enumerate(urls)
    )
