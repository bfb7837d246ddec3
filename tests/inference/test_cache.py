"""EmbeddingCache against a real redis-server (plus the pure vector encoding)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import numpy.typing as npt
import pytest
import redis.asyncio as aioredis
from moderation_lab.embedded import EmbeddedRedis, free_port

from worker.config.settings import Settings
from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache, SeenPost, decode_vector, encode_vector
from worker.names import embedding_key, post_key


def test_vector_encoding_round_trips_and_rejects_corruption() -> None:
    vector = np.arange(5, dtype=np.float64) / 3
    raw = encode_vector(vector)
    assert len(raw) == 4 + 5 * 4
    decoded = decode_vector(raw)
    assert decoded is not None and decoded.dtype == np.float32 and decoded.flags.writeable
    np.testing.assert_array_equal(decoded, vector.astype(np.float32))
    assert decode_vector(raw[:-1]) is None  # length disagrees with header
    assert decode_vector(b"\x01") is None
    assert decode_vector(encode_vector(np.array([1.0, np.nan]))) is None
    with pytest.raises(ValueError):
        encode_vector(np.zeros((2, 2)))


@pytest.fixture
async def cache(redis_url: str) -> AsyncIterator[EmbeddingCache]:
    # A fresh prefix per test: the session's server is shared.
    settings = Settings(redis_url=redis_url, redis_prefix=f"t{uuid.uuid4().hex[:8]}")
    cache = EmbeddingCache.from_settings(settings)
    yield cache
    await cache.aclose()


@pytest.fixture
async def raw_redis(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.mark.integration
async def test_embeddings_round_trip_with_ttl(cache: EmbeddingCache, raw_redis: aioredis.Redis) -> None:
    vectors: dict[str, npt.NDArray[np.float64]] = {"aa": np.ones(4), "bb": np.linspace(0, 1, 4)}
    await cache.put_many("text", "enc1", vectors)
    found = await cache.get_many("text", "enc1", ["aa", "bb", "cc", "aa"])
    assert set(found) == {"aa", "bb"}
    np.testing.assert_allclose(found["bb"], np.linspace(0, 1, 4), rtol=1e-6)
    # Another encoder's key space is separate.
    assert await cache.get_many("text", "enc2", ["aa"]) == {}
    ttl = await raw_redis.ttl(embedding_key(cache._prefix, "text", "enc1", "aa"))
    assert 0 < ttl <= Settings().embedding_ttl_s


@pytest.mark.integration
async def test_empty_requests_do_not_touch_redis(cache: EmbeddingCache) -> None:
    assert await cache.get_many("text", "enc", []) == {}
    await cache.put_many("text", "enc", {})


@pytest.mark.integration
async def test_corrupt_value_is_a_miss(cache: EmbeddingCache, raw_redis: aioredis.Redis) -> None:
    await cache.put_many("image", "enc", {"good": np.ones(3)})
    await raw_redis.set(embedding_key(cache._prefix, "image", "enc", "bad"), b"\x09\x00\x00\x00xx")
    found = await cache.get_many("image", "enc", ["good", "bad"])
    assert list(found) == ["good"]


@pytest.mark.integration
async def test_posts_round_trip_and_corrupt_post_is_none(
    cache: EmbeddingCache, raw_redis: aioredis.Redis
) -> None:
    record = SeenPost(text="héllo", image_urls=("http://a/1.png", "http://a/2.png"))
    await cache.remember_post("p1", record)
    assert await cache.recall_post("p1") == record
    assert await cache.recall_post("unknown") is None
    assert 0 < await raw_redis.ttl(post_key(cache._prefix, "p1")) <= Settings().post_ttl_s
    await raw_redis.set(post_key(cache._prefix, "p2"), b"{not json")
    assert await cache.recall_post("p2") is None
    await cache.ping()


@pytest.mark.integration
async def test_redis_stopped_raises_cache_error(fresh_redis: EmbeddedRedis) -> None:
    server, url = fresh_redis, fresh_redis.url
    cache = EmbeddingCache.from_settings(Settings(redis_url=url, redis_timeout_s=0.5))
    try:
        await cache.put_many("text", "enc", {"h": np.ones(2)})
        server.stop()
        with pytest.raises(CacheError) as caught:
            await cache.get_many("text", "enc", ["h"])
        assert caught.value.retriable
        with pytest.raises(CacheError):
            await cache.ping()
        with pytest.raises(CacheError):
            await cache.recall_post("x")
        with pytest.raises(CacheError):
            await cache.remember_post("x", SeenPost(text="", image_urls=()))
    finally:
        await cache.aclose()


async def test_nobody_listening_raises_cache_error() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout_s=0.5)
    cache = EmbeddingCache.from_settings(settings)
    with pytest.raises(CacheError):
        await cache.put_many("text", "enc", {"h": np.ones(2)})
    await cache.aclose()
