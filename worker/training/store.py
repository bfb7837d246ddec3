"""Where encoder outputs are kept between training runs: a local file, or Redis.

Keys are those of the live worker: the content's sha256 under the encoder id
(:attr:`ModerationModel.encoder_ids`, which covers the weights, tokenizer,
truncation, pooling and precision). A changed encoder or pooling therefore
never reads another's vectors. The file store writes one
``embeddings-<kind>-<encoder id>.npz`` per encoder; the Redis store is the
worker's own :class:`~worker.inference.cache.EmbeddingCache`, so training and the worker
warm each other's cache.

Example::

    store = FileStore(Path(".models/cache"))
    known = store.get_many("text", "3f2a9c...", hashes)
    store.put_many("text", "3f2a9c...", {sha: vector})
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache
from worker.model.types import FloatArray

__all__ = ["FeatureStore", "FileStore", "NoStore", "RedisStore"]

log = logging.getLogger(__name__)


class FeatureStore(Protocol):
    """Encoder outputs by (kind, encoder id, content sha256)."""

    def get_many(self, kind: str, encoder_id: str, hashes: Sequence[str]) -> dict[str, FloatArray]: ...

    def put_many(self, kind: str, encoder_id: str, items: Mapping[str, FloatArray]) -> None: ...


class NoStore:
    """Keeps nothing: every run encodes everything."""

    def get_many(self, kind: str, encoder_id: str, hashes: Sequence[str]) -> dict[str, FloatArray]:
        return {}

    def put_many(self, kind: str, encoder_id: str, items: Mapping[str, FloatArray]) -> None:
        return None


class FileStore:
    """One ``.npz`` file per (kind, encoder id) under ``folder``, rewritten atomically."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._loaded: dict[str, dict[str, FloatArray]] = {}

    def path(self, kind: str, encoder_id: str) -> Path:
        return self.folder / f"embeddings-{kind}-{encoder_id}.npz"

    def get_many(self, kind: str, encoder_id: str, hashes: Sequence[str]) -> dict[str, FloatArray]:
        table = self._table(kind, encoder_id)
        return {h: table[h] for h in hashes if h in table}

    def put_many(self, kind: str, encoder_id: str, items: Mapping[str, FloatArray]) -> None:
        if not items:
            return
        table = self._table(kind, encoder_id)
        table.update({h: np.asarray(v, dtype=np.float32) for h, v in items.items()})
        path = self.path(kind, encoder_id)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            keys = sorted(table)
            np.savez(temporary, keys=np.array(keys), vectors=np.stack([table[k] for k in keys]))
            os.replace(temporary, path)
        except OSError as exc:
            raise CacheError(f"cannot write {path}: {exc}") from exc

    def _table(self, kind: str, encoder_id: str) -> dict[str, FloatArray]:
        name = f"{kind}-{encoder_id}"
        if name not in self._loaded:
            self._loaded[name] = self._read(self.path(kind, encoder_id))
        return self._loaded[name]

    @staticmethod
    def _read(path: Path) -> dict[str, FloatArray]:
        if not path.is_file():
            return {}
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"].astype(np.float32)
        except (OSError, ValueError, KeyError) as exc:
            # A cache is an optimisation: a damaged file is recomputed (and rewritten).
            log.warning("ignoring unreadable feature cache %s: %s", path, exc)
            return {}
        return {str(k): vectors[i] for i, k in enumerate(keys)}


class RedisStore:
    """The live worker's Redis embedding cache, called synchronously."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self._cache = cache
        self._loop = asyncio.new_event_loop()

    def ping(self) -> None:
        """Raises :class:`CacheError` when Redis does not answer."""
        self._loop.run_until_complete(self._cache.ping())

    def get_many(self, kind: str, encoder_id: str, hashes: Sequence[str]) -> dict[str, FloatArray]:
        found = self._loop.run_until_complete(self._cache.get_many(kind, encoder_id, hashes))
        return {h: np.asarray(v, dtype=np.float32) for h, v in found.items()}

    def put_many(self, kind: str, encoder_id: str, items: Mapping[str, FloatArray]) -> None:
        self._loop.run_until_complete(self._cache.put_many(kind, encoder_id, items))

    def close(self) -> None:
        self._loop.run_until_complete(self._cache.aclose())
        self._loop.close()
