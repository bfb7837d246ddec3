"""Image search for audits: CLIP vectors from the worker's Redis cache first, ranked by a text or an image."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.support.fakes import FakeScorer
from tests.test_pipeline import public_resolver
from worker.audit.search import images_of, load_images, search_images, write_contact_sheet
from worker.config.settings import Settings
from worker.fetch.client import ImageFetcher
from worker.inference.cache import EmbeddingCache
from worker.model.types import FloatArray

COLOURS = {"red": (220, 20, 20), "green": (20, 200, 30), "blue": (20, 30, 210)}


def png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def sha(name: str) -> str:
    return hashlib.sha256(png(COLOURS[name])).hexdigest()


class ColourScorer(FakeScorer):
    """CLIP stand-in: an image's vector is its mean colour, a text's is the colour it names."""

    encoder_ids: ClassVar[dict[str, str]] = {**FakeScorer.encoder_ids, "clip_image": "colour1"}

    def __init__(self) -> None:
        super().__init__()
        self.clip_images_encoded = 0

    def clip_encode_texts(self, texts: Sequence[str]) -> FloatArray:
        return np.array([COLOURS[t] for t in texts], dtype=np.float32)

    def clip_encode_images(self, images: Sequence[Image.Image]) -> FloatArray:
        self.clip_images_encoded += len(images)
        return np.array([np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) for im in images])


def verdict(post_id: str, ts: int, *images: tuple[str, str]) -> dict[str, object]:
    outcomes = [
        {"url": f"https://img.test/{name}.png", "status": status, "content_sha256": sha(name)}
        for name, status in images
    ]
    return {"post_id": post_id, "bias": {}, "source": {"timestamp_ms": ts}, "images": outcomes}


VERDICTS = [
    verdict("p-red", 1000, ("red", "ok")),
    verdict("p-green", 2000, ("green", "ok"), ("blue", "error")),
    verdict("p-blue", 3000, ("blue", "ok")),
    verdict("p-late", 9000, ("red", "ok")),
]


def test_images_of_keeps_usable_images_in_the_time_range() -> None:
    found = images_of(VERDICTS, from_ms=1000, to_ms=9000)
    assert [(i.post_id, i.url.rsplit("/", 1)[1]) for i in found] == [
        ("p-red", "red.png"),
        ("p-green", "green.png"),
        ("p-blue", "blue.png"),
    ]


async def test_a_replay_file_is_a_source(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text("".join(json.dumps(v) + "\n" for v in VERDICTS))
    found = await load_images(Settings(), str(path), None, 2500)
    assert [i.post_id for i in found] == ["p-red", "p-green"]


def fetcher(settings: Settings) -> ImageFetcher:
    def handler(request: httpx.Request) -> httpx.Response:
        name = request.url.path.strip("/").removesuffix(".png")
        return httpx.Response(200, content=png(COLOURS[name]))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return ImageFetcher(settings.fetch, client, resolver=public_resolver)


@pytest.mark.integration
async def test_search_reads_cached_vectors_encodes_the_rest_and_ranks(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(redis_url=redis_url, redis_prefix=f"t{uuid.uuid4().hex[:8]}")
    cache = EmbeddingCache.from_settings(settings)
    scorer = ColourScorer()
    images = images_of(VERDICTS, to_ms=9000)
    # The worker already encoded the red image: the search must use that vector.
    await cache.put_many("clip_image", "colour1", {sha("red"): np.array(COLOURS["red"], dtype=np.float32)})
    client = fetcher(settings)
    try:
        hits, stats = await search_images(
            settings, scorer, cache, images, query="green", top=2, fetcher=client
        )
        assert [h.post_id for h in hits] == ["p-green", "p-blue"] and hits[0].score > 0.99
        assert (stats.from_cache, stats.encoded, scorer.clip_images_encoded) == (1, 2, 2)
        like = Image.new("RGB", (8, 8), COLOURS["red"])
        hits, stats = await search_images(settings, scorer, cache, images, like=like, fetcher=client)
        assert hits[0].post_id == "p-red" and len(hits) == 3
        assert stats.from_cache == 3 and scorer.clip_images_encoded == 3  # + the --like image only
    finally:
        await client.aclose()
        await cache.aclose()
    sheet = tmp_path / "sheet.html"
    write_contact_sheet(sheet, "images like <red>", hits)
    page = sheet.read_text()
    assert "&lt;red&gt;" in page and page.index("p-red") < page.index("p-green")
    assert 'src="https://img.test/red.png"' in page
