"""A reused image URL whose embeddings are cached is not fetched again (real Redis)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.fakes import FakePublisher, FakeScorer, png
from tests.test_pipeline import post, public_resolver, record
from worker.config.settings import Settings
from worker.fetch.client import ImageFetcher
from worker.inference.cache import EmbeddingCache
from worker.pipeline import Pipeline

pytestmark = pytest.mark.integration


async def run_posts(settings: Settings, values: list[bytes], requests: list[str]) -> FakePublisher:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        return httpx.Response(200, content=png(48, 32), headers={"content-type": "image/png"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    cache = EmbeddingCache.from_settings(settings)
    publisher = FakePublisher()
    pipeline = Pipeline(
        settings,
        FakeScorer(),
        ImageFetcher(settings.fetch, client, resolver=public_resolver),
        cache,
        publisher,
    )
    await pipeline.start()
    for offset, value in enumerate(values):
        done = asyncio.Event()
        await pipeline.submit(record(offset, value), ack=done.set)
        await asyncio.wait_for(done.wait(), 10)  # one at a time: the second sees the first's cache
    await pipeline.stop()
    await cache.aclose()
    await client.aclose()
    return publisher


async def test_second_use_of_an_image_url_skips_the_fetch(redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, max_wait_ms=1, redis_prefix="memo-test")  # type: ignore[arg-type]
    url = "https://img.test/media/abc.png"
    requests: list[str] = []
    publisher = await run_posts(settings, [post("m1", images=[url]), post("m2", images=[url])], requests)
    first, second = publisher.on("verdicts")
    assert requests == ["/media/abc.png"]  # fetched once
    assert first["images"][0]["cached"] is False and second["images"][0]["cached"] is True
    assert second["images"][0]["content_sha256"] == first["images"][0]["content_sha256"]
    assert (second["images"][0]["width"], second["images"][0]["height"]) == (48, 32)
    assert second["bias"] == first["bias"] and second["clip"] == first["clip"]


async def test_memo_can_be_turned_off(redis_url: str) -> None:
    settings = Settings(  # type: ignore[arg-type]
        redis_url=redis_url, max_wait_ms=1, redis_prefix="memo-off", image_url_ttl_s=0
    )
    url = "https://img.test/media/def.png"
    requests: list[str] = []
    await run_posts(settings, [post("m1", images=[url]), post("m2", images=[url])], requests)
    assert requests == ["/media/def.png", "/media/def.png"]
