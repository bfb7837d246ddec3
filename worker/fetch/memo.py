"""Where a reused image skips its fetch: the URL served this content before, and every
embedding the post needs of it is still cached.

Image hosts serve a URL's bytes unchanged (tweet media URLs are content addresses), so
a retweet or a reused picture costs a Redis round trip instead of a download, a decode
and the encoders. What a URL served is remembered for ``image_url_ttl_s``; set it to 0
for hosts whose URLs change content.

Example::

    memo = ImageMemo(cache, encoder_ids, ttl_s=86400)
    await memo.lookup([(slot, ("image", "clip_image"))])   # fills slot.memo, slot.vectors
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache, ImageMeta
from worker.inference.jobs import ImageSlot
from worker.model.types import FloatArray
from worker.ops.logs import cache_warnings

__all__ = ["ImageMemo"]

log = logging.getLogger(__name__)


class ImageMemo:
    """URL -> content memo backed by the embedding cache."""

    def __init__(self, cache: EmbeddingCache, encoder_ids: Mapping[str, str], ttl_s: int) -> None:
        self.cache = cache
        self.encoder_ids = dict(encoder_ids)
        self.ttl_s = ttl_s

    async def lookup(self, wanted: Sequence[tuple[ImageSlot, tuple[str, ...]]]) -> None:
        """Mark each slot whose URL and needed embeddings (``kinds``) are all known."""
        if not wanted:
            return
        try:
            metas = await self.cache.recall_images([slot.url for slot, _ in wanted])
            found = await self._vectors(metas, wanted)
        except CacheError as exc:
            cache_warnings.warning(log, "memo-lookup", "image memo unavailable, fetching: %s", exc)
            return
        for slot, kinds in wanted:
            meta = metas.get(slot.url)
            if meta is None or not all(meta.content_sha256 in found[kind] for kind in kinds):
                continue
            slot.memo = meta
            slot.vectors = {kind: found[kind][meta.content_sha256] for kind in kinds}

    async def _vectors(
        self, metas: Mapping[str, ImageMeta], wanted: Sequence[tuple[ImageSlot, tuple[str, ...]]]
    ) -> dict[str, dict[str, FloatArray]]:
        hashes: dict[str, set[str]] = {}
        for slot, kinds in wanted:
            meta = metas.get(slot.url)
            for kind in kinds:
                if meta is not None:
                    hashes.setdefault(kind, set()).add(meta.content_sha256)
        found: dict[str, dict[str, FloatArray]] = {kind: {} for _, kinds in wanted for kind in kinds}
        for kind, shas in hashes.items():
            found[kind] = dict(await self.cache.get_many(kind, self.encoder_ids[kind], sorted(shas)))
        return found

    async def remember(self, slots: Sequence[ImageSlot]) -> None:
        """Remember what freshly fetched URLs served."""
        items = {
            slot.url: ImageMeta(
                slot.image.content_sha256,
                len(slot.image.content),
                slot.image.width,
                slot.image.height,
                slot.image.format,
            )
            for slot in slots
            if slot.image is not None
        }
        try:
            await self.cache.remember_images(items, self.ttl_s)
        except CacheError as exc:
            cache_warnings.warning(log, "memo-store", "could not remember image URLs: %s", exc)
