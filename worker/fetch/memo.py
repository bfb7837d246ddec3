"""Where a reused image skips its fetch: the URL served this content before, and every
embedding the post needs of it is still cached.

Image hosts serve a URL's bytes unchanged (tweet media URLs are content addresses), so
a retweet or a reused picture costs a Redis round trip instead of a download, a decode
and the encoders. What a URL served is remembered for ``image_url_ttl_s``; set it to 0
for hosts whose URLs change content.

Example::

    memo = ImageMemo(cache, encoder_ids, ttl_s=86400)
    known = await memo.lookup([(url, ("image", "clip_image"))])   # url -> (meta, vectors)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from worker.errors import CacheError
from worker.fetch.client import FetchedImage
from worker.inference.cache import EmbeddingCache, ImageMeta
from worker.model.types import FloatArray
from worker.ops.logs import cache_warnings

__all__ = ["ImageMemo", "Known", "Needs"]

log = logging.getLogger(__name__)

#: Image URLs and the embeddings (``image``, ``clip_image``) each is needed for.
Needs = Sequence[tuple[str, tuple[str, ...]]]
#: What a URL served before, and its cached embeddings by kind.
Known = dict[str, tuple[ImageMeta, dict[str, FloatArray]]]


class ImageMemo:
    """URL -> content memo backed by the embedding cache."""

    def __init__(self, cache: EmbeddingCache, encoder_ids: Mapping[str, str], ttl_s: int) -> None:
        self.cache = cache
        self.encoder_ids = dict(encoder_ids)
        self.ttl_s = ttl_s

    async def lookup(self, needs: Needs) -> Known:
        """The URLs whose content and every needed embedding are all cached."""
        kinds_of: dict[str, set[str]] = {}
        for url, wanted in needs:
            kinds_of.setdefault(url, set()).update(wanted)
        if not kinds_of:
            return {}
        try:
            metas = await self.cache.recall_images(list(kinds_of))
            found = await self._vectors(metas, kinds_of)
        except CacheError as exc:
            cache_warnings.warning(log, "memo-lookup", "image memo unavailable, fetching: %s", exc)
            return {}
        known: Known = {}
        for url, kinds in kinds_of.items():
            meta = metas.get(url)
            if meta is not None and all(meta.content_sha256 in found[kind] for kind in kinds):
                known[url] = (meta, {kind: found[kind][meta.content_sha256] for kind in sorted(kinds)})
        return known

    async def _vectors(
        self, metas: Mapping[str, ImageMeta], kinds_of: Mapping[str, set[str]]
    ) -> dict[str, dict[str, FloatArray]]:
        hashes: dict[str, set[str]] = {kind: set() for kinds in kinds_of.values() for kind in kinds}
        for url, kinds in kinds_of.items():
            meta = metas.get(url)
            if meta is not None:
                for kind in kinds:
                    hashes[kind].add(meta.content_sha256)
        found: dict[str, dict[str, FloatArray]] = {}
        for kind, shas in hashes.items():
            found[kind] = dict(await self.cache.get_many(kind, self.encoder_ids[kind], sorted(shas)))
        return found

    async def remember(self, images: Sequence[FetchedImage]) -> None:
        """Remember what freshly fetched URLs served."""
        items = {
            image.url: ImageMeta(
                image.content_sha256, len(image.content), image.width, image.height, image.format
            )
            for image in images
        }
        try:
            await self.cache.remember_images(items, self.ttl_s)
        except CacheError as exc:
            cache_warnings.warning(log, "memo-store", "could not remember image URLs: %s", exc)
