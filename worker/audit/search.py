"""``moderation-worker search``: find the images of audited posts by a text or by an example image.

The images come from verdicts: the verdicts topic over a time range (``--from``/``--to``,
by the records' Kafka timestamps), or a replay's JSONL output. Each image's CLIP
embedding is read from the worker's Redis cache by the content hash the verdict
recorded; only images the cache no longer holds are fetched again and encoded (and
cached for the next search). They are ranked by cosine similarity to the CLIP
embedding of the text query, or of the ``--like`` image, and written as an HTML
contact sheet.

Example::

    hits, stats = await search_images(settings, scorer, images, query="a red car", top=20)
    write_contact_sheet(Path("search.html"), "a red car", hits)
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from worker.audit.errors import CompareError
from worker.config.settings import Settings
from worker.errors import CacheError, FetchError
from worker.fetch.client import ImageFetcher
from worker.inference.cache import EmbeddingCache
from worker.model.types import FloatArray, Scorer

__all__ = [
    "Hit",
    "SearchImage",
    "SearchStats",
    "images_of",
    "load_images",
    "search_images",
    "write_contact_sheet",
]

KIND = "clip_image"


@dataclass(frozen=True, slots=True)
class SearchImage:
    """One image of one post, as its verdict recorded it."""

    post_id: str
    url: str
    content_sha256: str


@dataclass(frozen=True, slots=True)
class Hit:
    post_id: str
    url: str
    score: float


@dataclass
class SearchStats:
    images: int = 0
    from_cache: int = 0
    encoded: int = 0
    unavailable: list[str] = field(default_factory=list)


def _in_range(stamp: int | None, from_ms: int | None, to_ms: int | None) -> bool:
    if stamp is None:
        return from_ms is None and to_ms is None
    return (from_ms is None or stamp >= from_ms) and (to_ms is None or stamp < to_ms)


def images_of(
    verdicts: Iterable[dict[str, Any]], from_ms: int | None = None, to_ms: int | None = None
) -> list[SearchImage]:
    """The usable images of these verdicts whose post's Kafka timestamp is in the range."""
    found: dict[tuple[str, str], SearchImage] = {}
    for verdict in verdicts:
        if not _in_range((verdict.get("source") or {}).get("timestamp_ms"), from_ms, to_ms):
            continue
        for image in verdict.get("images") or []:
            if image.get("status") == "ok" and image.get("content_sha256"):
                key = (verdict["post_id"], image["url"])
                found[key] = SearchImage(verdict["post_id"], image["url"], image["content_sha256"])
    return list(found.values())


async def load_images(
    settings: Settings, source: str, from_ms: int | None, to_ms: int | None
) -> list[SearchImage]:
    """Images of the verdicts in ``source`` (``topic:NAME`` or a replay's JSONL file)."""
    from worker.audit.compare.load import TOPIC_PREFIX, read_jsonl

    if not source.startswith(TOPIC_PREFIX):
        return images_of(read_jsonl(Path(source)).verdicts.values(), from_ms, to_ms)
    from worker.audit.replay.kafka import KafkaLog
    from worker.audit.replay.planning import plan_ranges
    from worker.audit.replay.ranges import RangeRequest

    verdicts: dict[str, dict[str, Any]] = {}
    async with KafkaLog(settings, source.removeprefix(TOPIC_PREFIX)) as log:
        # A verdict is written after its post was read: start at --from, read to the end.
        plan = await plan_ranges(log, RangeRequest(from_ms=from_ms))
        async for record in log.records(plan.ranges):
            try:
                document = json.loads(record.value)
            except ValueError:
                continue  # not a verdict; compare reports such records, search skips them
            if isinstance(document, dict) and "post_id" in document:
                verdicts[document["post_id"]] = document
    return images_of(verdicts.values(), from_ms, to_ms)


async def _embeddings(
    settings: Settings,
    scorer: Scorer,
    cache: EmbeddingCache | None,
    images: Sequence[SearchImage],
    stats: SearchStats,
    fetcher: ImageFetcher | None,
) -> dict[str, FloatArray]:
    """CLIP image embeddings by content hash: from the cache, else fetched and encoded."""
    encoder = scorer.encoder_ids[KIND]
    shas = list(dict.fromkeys(image.content_sha256 for image in images))
    vectors: dict[str, FloatArray] = {}
    if cache is not None:
        try:
            vectors.update(await cache.get_many(KIND, encoder, shas))
        except CacheError as exc:
            stats.unavailable.append(f"cache: {exc}")
    stats.from_cache = len(vectors)
    wanted = {image.content_sha256: image.url for image in images if image.content_sha256 not in vectors}
    fetched: dict[str, Image.Image] = {}
    own = fetcher is None and bool(wanted)
    if fetcher is None and wanted:
        fetcher = ImageFetcher(settings.fetch)
    try:
        for sha, url in wanted.items():
            assert fetcher is not None
            try:
                image = await fetcher.fetch(url)
            except FetchError as exc:
                stats.unavailable.append(f"{url}: {exc}")
                continue
            if image.content_sha256 == sha:  # the URL may serve other bytes now
                fetched[sha] = image.image
            else:
                stats.unavailable.append(f"{url}: serves other content than the verdict recorded")
    finally:
        if own and fetcher is not None:
            await fetcher.aclose()
    if fetched:
        encoded = await asyncio.to_thread(scorer.clip_encode_images, list(fetched.values()))
        fresh = {sha: np.asarray(encoded[i], dtype=np.float32) for i, sha in enumerate(fetched)}
        vectors.update(fresh)
        stats.encoded = len(fresh)
        if cache is not None:
            try:
                await cache.put_many(KIND, encoder, fresh)
            except CacheError as exc:
                stats.unavailable.append(f"cache: {exc}")
    return vectors


async def search_images(
    settings: Settings,
    scorer: Scorer,
    cache: EmbeddingCache | None,
    images: Sequence[SearchImage],
    *,
    query: str | None = None,
    like: Image.Image | None = None,
    top: int = 20,
    fetcher: ImageFetcher | None = None,
) -> tuple[list[Hit], SearchStats]:
    """The ``top`` images nearest to the text ``query`` or to the image ``like``.

    ``fetcher`` fetches what the cache lacks (default: one of its own, under ``settings``).
    """
    if (query is None) == (like is None):
        raise CompareError("search by a text query or by --like IMAGE, one of the two")
    if KIND not in scorer.encoder_ids:
        raise CompareError("image search needs CLIP: set MODERATION_CLIP_MODEL")
    stats = SearchStats(images=len(images))
    vectors = await _embeddings(settings, scorer, cache, images, stats, fetcher)
    if like is not None:
        target = await asyncio.to_thread(scorer.clip_encode_images, [like])
    else:
        target = await asyncio.to_thread(scorer.clip_encode_texts, [query or ""])
    direction = np.asarray(target[0], dtype=np.float32)
    direction /= max(float(np.linalg.norm(direction)), 1e-12)
    hits = []
    for image in images:
        vector = vectors.get(image.content_sha256)
        if vector is not None:
            cosine = float(vector @ direction) / max(float(np.linalg.norm(vector)), 1e-12)
            hits.append(Hit(image.post_id, image.url, round(cosine, 6)))
    hits.sort(key=lambda hit: (-hit.score, hit.post_id, hit.url))
    return hits[:top], stats


def write_contact_sheet(path: Path, title: str, hits: Sequence[Hit]) -> None:
    """An HTML page of the hits as thumbnails, best first (images load from their URLs)."""
    cells = "\n".join(
        f'<figure><a href="{html.escape(h.url)}"><img src="{html.escape(h.url)}" loading="lazy"></a>'
        f"<figcaption>#{rank} {html.escape(h.post_id)}<br>{h.score:.4f}</figcaption></figure>"
        for rank, h in enumerate(hits, start=1)
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif}} figure{{display:inline-block;width:200px;margin:6px}}
img{{width:200px;height:160px;object-fit:cover;background:#eee}}</style></head>
<body><h1>{html.escape(title)}</h1>
{cells}
</body></html>
"""
    path.write_text(page, encoding="utf-8")
