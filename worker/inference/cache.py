"""Redis-backed cache of encoder outputs, and the posts the worker has seen.

Vectors are stored as a little-endian ``uint32`` dimension followed by that many
little-endian ``float32`` values; a value that does not match its own header (or
holds NaN/inf) is treated as a miss, never as a crash. Every Redis failure becomes
:class:`~worker.errors.CacheError`, which is retriable: the pipeline may run without
the cache. Keys come from :mod:`worker.names`, so a key always names its encoder.

Example::

    cache = EmbeddingCache.from_settings(settings)
    hits = await cache.get_many("text", encoder_id, hashes)      # {hash: vector}
    await cache.put_many("text", encoder_id, {h: v for h, v in fresh.items()})
    await cache.aclose()
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from worker.config.credentials import redis_tls_kwargs
from worker.config.settings import Settings
from worker.errors import CacheError
from worker.known.pdq import HASH_BYTES, PDQ_VERSION, PdqHash
from worker.names import embedding_key, image_url_key, pdq_key, post_key

__all__ = ["EmbeddingCache", "ImageMeta", "SeenPost", "decode_vector", "encode_vector"]

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]

_HEADER = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class SeenPost:
    """What a later post may need of an earlier one it references by id."""

    text: str
    image_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImageMeta:
    """What an image URL served: enough to find its embeddings without fetching it."""

    content_sha256: str
    bytes: int
    width: int
    height: int
    format: str


def encode_vector(vector: npt.NDArray[Any]) -> bytes:
    """Header plus raw ``float32`` bytes of a one-dimensional vector."""
    if vector.ndim != 1 or vector.size == 0:
        raise ValueError(f"expected a non-empty 1-D vector, got shape {vector.shape}")
    data = np.ascontiguousarray(vector, dtype="<f4")
    return _HEADER.pack(data.size) + data.tobytes()


def decode_vector(raw: bytes) -> Vector | None:
    """The vector stored in ``raw``, or ``None`` when the value is corrupt."""
    if len(raw) < _HEADER.size:
        return None
    (dim,) = _HEADER.unpack_from(raw)
    if dim == 0 or len(raw) != _HEADER.size + 4 * dim:
        return None
    vector = np.frombuffer(raw, dtype="<f4", offset=_HEADER.size, count=dim)
    if not np.isfinite(vector).all():
        return None
    # astype copies: callers get a writable array in native byte order.
    return vector.astype(np.float32)


@contextlib.contextmanager
def _redis_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise CacheError(f"redis {operation} failed: {type(exc).__name__}: {exc}") from exc


class EmbeddingCache:
    """Encoder outputs keyed by content hash and encoder identity, plus seen posts.

    ``client`` must return bytes (``decode_responses=False``, the default).
    """

    def __init__(
        self,
        client: aioredis.Redis | RedisCluster,
        prefix: str,
        embedding_ttl_s: int,
        post_ttl_s: int,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._embedding_ttl_s = embedding_ttl_s
        self._post_ttl_s = post_ttl_s

    @classmethod
    def from_settings(cls, settings: Settings) -> EmbeddingCache:
        """A cache on its own connection pool (or cluster client), with the call timeout."""
        options: dict[str, Any] = {
            "socket_timeout": settings.redis_timeout_s,
            "socket_connect_timeout": settings.redis_timeout_s,
            # One immediate retry covers a pooled connection that went stale when
            # Redis restarted; redis-py's default backoff would stall the pipeline
            # for seconds on a cache that is optional anyway.
            "retry": Retry(NoBackoff(), 1),
            **redis_tls_kwargs(settings),
        }
        url = settings.redis_url.get_secret_value()
        client: aioredis.Redis | RedisCluster
        if settings.redis_cluster:
            client = RedisCluster.from_url(url, **options)
        else:
            client = aioredis.Redis.from_url(url, **options)
        return cls(client, settings.redis_prefix, settings.embedding_ttl_s, settings.post_ttl_s)

    async def get_many(self, kind: str, encoder_id: str, hashes: Sequence[str]) -> dict[str, Vector]:
        """Cached vectors for those ``hashes`` that have one (one MGET)."""
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return {}
        keys = [embedding_key(self._prefix, kind, encoder_id, h) for h in unique]
        with _redis_errors("MGET"):
            values = await self._mget(keys)
        found: dict[str, Vector] = {}
        for content_hash, key, raw in zip(unique, keys, values, strict=True):
            if raw is None:
                continue
            # A str means a client with decode_responses=True: unusable, so a miss.
            vector = decode_vector(raw) if isinstance(raw, bytes) else None
            if vector is None:
                log.warning("ignoring corrupt cached vector at %s", key)
                continue
            found[content_hash] = vector
        return found

    async def put_many(self, kind: str, encoder_id: str, items: Mapping[str, npt.NDArray[Any]]) -> None:
        """Store vectors with the embedding TTL (one pipelined round trip)."""
        if not items:
            return
        encoded = {
            embedding_key(self._prefix, kind, encoder_id, h): encode_vector(v) for h, v in items.items()
        }
        with _redis_errors("SET"):
            async with self._client.pipeline(transaction=False) as pipe:
                for key, value in encoded.items():
                    pipe.set(key, value, ex=self._embedding_ttl_s)
                await pipe.execute()

    async def get_pdq_many(self, hashes: Sequence[str]) -> dict[str, PdqHash]:
        """Cached PDQ hashes of these image contents (by sha256), for those that have one."""
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return {}
        keys = [pdq_key(self._prefix, PDQ_VERSION, h) for h in unique]
        with _redis_errors("MGET"):
            values = await self._mget(keys)
        # 32 bytes of hash and one of quality; anything else is corrupt, hence a miss.
        return {
            sha: PdqHash(raw[:HASH_BYTES], raw[HASH_BYTES])
            for sha, raw in zip(unique, values, strict=True)
            if isinstance(raw, bytes) and len(raw) == HASH_BYTES + 1 and raw[HASH_BYTES] <= 100
        }

    async def put_pdq_many(self, items: Mapping[str, PdqHash]) -> None:
        """Store PDQ hashes by image sha256, with the embedding TTL."""
        if not items:
            return
        with _redis_errors("SET"):
            async with self._client.pipeline(transaction=False) as pipe:
                for sha, pdq in items.items():
                    key = pdq_key(self._prefix, PDQ_VERSION, sha)
                    pipe.set(key, pdq.digest + bytes([pdq.quality]), ex=self._embedding_ttl_s)
                await pipe.execute()

    async def remember_images(self, items: Mapping[str, ImageMeta], ttl_s: int) -> None:
        """Remember what each URL served, for ``ttl_s`` seconds."""
        if not items or ttl_s <= 0:
            return
        with _redis_errors("SET"):
            async with self._client.pipeline(transaction=False) as pipe:
                for url, meta in items.items():
                    value = json.dumps(
                        [meta.content_sha256, meta.bytes, meta.width, meta.height, meta.format]
                    )
                    pipe.set(self._image_key(url), value, ex=ttl_s)
                await pipe.execute()

    async def recall_images(self, urls: Sequence[str]) -> dict[str, ImageMeta]:
        """What these URLs served last time, for those the cache remembers."""
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        keys = [self._image_key(url) for url in unique]
        with _redis_errors("MGET"):
            values = await self._mget(keys)
        found = {}
        for url, raw in zip(unique, values, strict=True):
            if raw is None:
                continue
            try:
                sha, size, width, height, fmt = json.loads(raw)
                found[url] = ImageMeta(str(sha), int(size), int(width), int(height), str(fmt))
            except (ValueError, TypeError) as exc:
                log.warning("ignoring corrupt image record for %s: %s", url, exc)
        return found

    def _image_key(self, url: str) -> str:
        return image_url_key(self._prefix, hashlib.sha256(url.encode("utf-8")).hexdigest())

    async def _mget(self, keys: list[str]) -> list[bytes | str | None]:
        if isinstance(self._client, RedisCluster):
            # Keys hash to different slots (nodes): one MGET per node, in order.
            values: list[bytes | str | None] = await self._client.mget_nonatomic(keys)
        else:
            values = await self._client.mget(keys)
        return values

    async def remember_post(self, post_id: str, record: SeenPost) -> None:
        """Keep ``record`` for ``post_ttl_s`` so later posts can reference it."""
        value = json.dumps({"text": record.text, "image_urls": list(record.image_urls)})
        with _redis_errors("SET"):
            await self._client.set(post_key(self._prefix, post_id), value, ex=self._post_ttl_s)

    async def recall_post(self, post_id: str) -> SeenPost | None:
        """The post remembered under ``post_id``, or ``None`` (unknown, expired, corrupt)."""
        key = post_key(self._prefix, post_id)
        with _redis_errors("GET"):
            raw: bytes | str | None = await self._client.get(key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            text, urls = data["text"], data["image_urls"]
            if not isinstance(text, str) or not isinstance(urls, list):
                raise TypeError("wrong field types")
            if not all(isinstance(u, str) for u in urls):
                raise TypeError("wrong field types")
            return SeenPost(text=text, image_urls=tuple(urls))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring corrupt seen post at %s: %s", key, exc)
            return None

    async def ping(self) -> None:
        """Raise :class:`CacheError` unless Redis answers."""
        with _redis_errors("PING"):
            # redis-py < 8 annotates ping() for its sync and async clients at once.
            answer = self._client.ping()
            if inspect.isawaitable(answer):
                await answer

    async def aclose(self) -> None:
        """Close the connection pool."""
        with _redis_errors("close"):
            await self._client.aclose()
