"""PDQ and bank matches through the pipeline: verdict fields, flags, the Redis cache, memo'd images."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis.asyncio as aioredis
from moderation_lab.samples import jpeg_bytes, png_bytes, sample_image
from PIL import Image

from tests.support.fakes import FakePublisher, FakeScorer
from tests.test_pipeline import post, public_resolver, record
from worker.config.settings import Settings
from worker.fetch.client import ImageFetcher
from worker.inference.cache import EmbeddingCache, ImageMeta
from worker.inference.jobs import ImageSlot
from worker.known.banks import BankSpec, write_manifest
from worker.known.hasher import KnownStage
from worker.known.pdq import PDQ_VERSION, compute_pdq
from worker.names import pdq_key
from worker.pipeline import Pipeline

KNOWN_SEED = 7
FLAT = Image.new("RGB", (64, 64), (200, 10, 10))


def transport() -> httpx.MockTransport:
    """``/s/N.png``: sample N; ``/s/N-copy.jpg``: a half-size JPEG re-encoding of it."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/flat.png":
            return httpx.Response(200, content=png_bytes(FLAT))
        name = request.url.path.removeprefix("/s/")
        seed = int(name.split("-")[0].split(".")[0])
        image = sample_image(seed)
        body = jpeg_bytes(image.resize((160, 120)), quality=70) if "-copy" in name else png_bytes(image)
        return httpx.Response(200, content=body)

    return httpx.MockTransport(handler)


def bank_folder(tmp_path: Path) -> Path:
    known = [compute_pdq(sample_image(KNOWN_SEED)), compute_pdq(FLAT)]
    (tmp_path / "demo.txt").write_text("".join(pdq.hex + "\n" for pdq in known))
    write_manifest(tmp_path, [BankSpec("demo-bank", "demo.txt", "hex", "generated test content", "block")])
    return tmp_path


async def run(values: list[bytes], settings: Settings, cache: EmbeddingCache | None) -> FakePublisher:
    publisher = FakePublisher()
    client = httpx.AsyncClient(transport=transport())
    fetcher = ImageFetcher(settings.fetch, client, resolver=public_resolver)
    pipeline = Pipeline(settings, FakeScorer(), fetcher, cache, publisher)
    acked: list[int] = []
    await pipeline.start()
    for offset, value in enumerate(values):
        await pipeline.submit(record(offset, value), ack=lambda o=offset: acked.append(o))
    for _ in range(500):
        if len(acked) == len(values):
            break
        await asyncio.sleep(0.01)
    await pipeline.stop()
    await fetcher.aclose()
    await client.aclose()
    return publisher


async def test_a_near_duplicate_of_a_banked_image_flags_the_post(tmp_path: Path) -> None:
    settings = Settings(known_banks=bank_folder(tmp_path), allow_private_hosts=True, clip_flag_labels=())
    urls = [f"https://img.test/s/{KNOWN_SEED}-copy.jpg", "https://img.test/s/8.png"]
    publisher = await run([post("p1", images=urls), post("p2", images=urls[1:])], settings, None)
    verdicts = {v["post_id"]: v for v in publisher.on("verdicts")}
    matched, other = verdicts["p1"]["images"]
    [match] = matched["known_matches"]
    assert match["bank"] == "demo-bank" and 0 < match["distance"] <= 31 and match["action"] == "block"
    assert other["known_matches"] is None and other["pdq"]["hash"] == compute_pdq(sample_image(8)).hex
    # A match is a category of the verdict, flagged by the policy like any other.
    assert verdicts["p1"]["flagged"] and verdicts["p1"]["categories"]["known:demo-bank"] is True
    assert verdicts["p1"]["category_scores"]["known:demo-bank"] == 1.0
    assert any("matches known content: demo-bank" in reason for reason in verdicts["p1"]["flag_reasons"])
    assert not any("known content" in r for r in verdicts["p2"]["flag_reasons"])
    assert [v["post_id"] for v in publisher.on("verdicts.flagged")] == ["p1"]


@pytest.mark.parametrize(
    ("url", "threshold", "min_quality", "matches"),
    [
        (f"https://img.test/s/{KNOWN_SEED}-copy.jpg", 31, 50, True),
        (f"https://img.test/s/{KNOWN_SEED}-copy.jpg", 5, 50, False),  # the copy is ~14 bits away
        ("https://img.test/flat.png", 31, 50, False),  # banked, but too flat to match safely
        ("https://img.test/flat.png", 31, 0, True),
    ],
)
async def test_threshold_and_quality_floor_decide_the_match(
    tmp_path: Path, url: str, threshold: int, min_quality: int, matches: bool
) -> None:
    settings = Settings(
        known_banks=bank_folder(tmp_path),
        known_match_threshold=threshold,
        known_min_quality=min_quality,
        allow_private_hosts=True,
    )
    [verdict] = (await run([post("p1", images=[url])], settings, None)).on("verdicts")
    image = verdict["images"][0]
    assert image["pdq"] is not None and (image["known_matches"] is not None) == matches


@pytest.mark.integration
async def test_hashes_are_computed_once_per_content_and_read_from_redis(
    redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        redis_url=redis_url,
        redis_prefix=f"t{uuid.uuid4().hex[:8]}",
        allow_private_hosts=True,
        known_banks=bank_folder(tmp_path),
    )
    cache = EmbeddingCache.from_settings(settings)
    url = "https://img.test/s/8.png"
    sha = hashlib.sha256(png_bytes(sample_image(8))).hexdigest()
    try:
        await run([post("p1", images=[url])], settings, cache)
        client = aioredis.Redis.from_url(redis_url)
        key = pdq_key(settings.redis_prefix, PDQ_VERSION, sha)
        stored = await client.get(key)
        assert stored == compute_pdq(sample_image(8)).digest + bytes([compute_pdq(sample_image(8)).quality])
        # Another URL with the same bytes: the hash comes from Redis (a planted one shows it).
        await client.set(key, bytes(32) + bytes([77]))
        publisher = await run([post("p2", images=["https://img.test/s/8.png?again"])], settings, cache)
        await client.aclose()
        [verdict] = publisher.on("verdicts")
        assert verdict["images"][0]["pdq"] == {"hash": "0" * 64, "quality": 77}
    finally:
        await cache.aclose()


@pytest.mark.integration
async def test_a_memod_image_without_a_cached_hash_is_sent_back_to_be_fetched(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, redis_prefix=f"t{uuid.uuid4().hex[:8]}")
    cache = EmbeddingCache.from_settings(settings)
    stage = KnownStage(cache, None, 50)
    vectors = {"image": np.zeros(2, dtype=np.float32)}
    remembered = {
        url: ImageSlot(url, memo=ImageMeta(sha, 10, 4, 4, "PNG"), vectors=vectors)
        for url, sha in (("https://a.test/1", "1" * 64), ("https://a.test/2", "2" * 64))
    }
    pdq = compute_pdq(sample_image(1))
    await cache.put_pdq_many({"1" * 64: pdq})
    degraded: set[str] = set()
    try:
        kept = await stage.recall(remembered, degraded)
    finally:
        stage.close()
        await cache.aclose()
    # The first keeps its memo and gains its hash; the second is left out, to be fetched.
    assert list(kept) == ["https://a.test/1"] and not degraded
    assert kept["https://a.test/1"].pdq == pdq and kept["https://a.test/1"].memo is not None
