"""Where a batch's encoder outputs come from: the Redis cache, else the encoders.

Identical texts and images inside a batch are encoded once; outputs are cached in
Redis under a hash of the content and the encoder's identity. The encoders and
heads run on one dedicated thread so the event loop (and with it the Kafka
consumer's heartbeats) never blocks. Texts arrive as the token ids the preparer
made, so no text is tokenized twice (a shadow model, with a tokenizer of its own,
is given the texts).

Example::

    stage = FeatureStage(scorer, cache, stats)
    scored = await stage.score(batch)      # one Scored per Prepared, in order
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from worker.errors import CacheError, ModelError
from worker.inference.cache import EmbeddingCache
from worker.inference.jobs import ImageSlot, Prepared, Scored
from worker.inference.windows import highest_window
from worker.model.classifiers import kind_modality
from worker.model.types import PostFeatures, PostScores, ReferenceFeatures, Scorer
from worker.ops.logs import cache_warnings
from worker.ops.metrics import PipelineStats

__all__ = ["FeatureStage"]

log = logging.getLogger(__name__)
Vector = np.ndarray


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class _Wanted:
    """Unique inputs of one encoder for one batch, by content hash."""

    kind: str
    inputs: dict[str, object] = field(default_factory=dict)
    found: dict[str, Vector] = field(default_factory=dict)

    def missing(self) -> list[str]:
        return [key for key in self.inputs if key not in self.found]


class FeatureStage:
    """Encodes what the cache does not have, then runs the heads."""

    def __init__(
        self, scorer: Scorer, cache: EmbeddingCache | None, stats: PipelineStats, *, tokenized: bool = True
    ) -> None:
        self.scorer = scorer
        self.cache = cache
        self.stats = stats
        #: Texts come as the preparer's token ids (the live model) or as text (a shadow model).
        self.tokenized = tokenized
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="inference")

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _collect(self, batch: Sequence[Prepared]) -> dict[str, _Wanted]:
        clip = "clip_text" in self.scorer.encoder_ids
        kinds = ("text", "image", "clip_text", "clip_image", *self._classifier_kinds())
        wanted = {kind: _Wanted(kind) for kind in kinds}
        for job in batch:
            window_texts = job.window_texts
            texts = list(zip(window_texts, job.window_tokens, strict=True))
            slots = list(job.images)
            if job.reference is not None and job.reference.unavailable is None:
                texts.append((job.reference.text, job.reference.token_ids))
                slots.extend(job.reference.images)
            for text, token_ids in texts:
                if text.strip():
                    wanted["text"].inputs[text_hash(text)] = token_ids if self.tokenized else text
            for slot in slots:
                if slot.usable:
                    _want(wanted["image"], slot)
            if clip and job.usable_images and job.post.text.strip():
                for text in window_texts:
                    if text.strip():
                        wanted["clip_text"].inputs[text_hash(text)] = text
                for slot in job.usable_images:
                    _want(wanted["clip_image"], slot)
            _want_classified(wanted, job, window_texts)
        return {kind: w for kind, w in wanted.items() if w.inputs}

    def _classifier_kinds(self) -> list[str]:
        return [kind for kind in self.scorer.encoder_ids if kind_modality(kind) is not None]

    async def _lookup(self, wanted: dict[str, _Wanted]) -> bool:
        """Fill ``found`` from the cache. False when the cache is unavailable."""
        if self.cache is None:
            return True
        try:
            for kind, w in wanted.items():
                encoder = self.scorer.encoder_ids[kind]
                w.found.update(await self.cache.get_many(kind, encoder, w.missing()))
        except CacheError as exc:
            cache_warnings.warning(
                log, "cache-lookup", "embedding cache unavailable, computing everything: %s", exc
            )
            return False
        return True

    async def _store(self, fresh: dict[str, dict[str, Vector]]) -> bool:
        if self.cache is None:
            return True
        try:
            for kind, items in fresh.items():
                if items:
                    await self.cache.put_many(kind, self.scorer.encoder_ids[kind], items)
        except CacheError as exc:
            cache_warnings.warning(log, "cache-store", "could not store embeddings in the cache: %s", exc)
            return False
        return True

    async def score(self, batch: Sequence[Prepared]) -> list[Scored]:
        """Every post with its scores, in order; ``cache_unavailable`` among its degraded
        parts when the cache failed on this batch."""
        wanted = self._collect(batch)
        cache_ok = await self._lookup(wanted)
        self.stats.on_cache(
            hits=sum(len(w.found) for w in wanted.values()),
            misses=sum(len(w.missing()) for w in wanted.values()),
        )
        loop = asyncio.get_running_loop()
        fresh, scores = await loop.run_in_executor(self._executor, self._compute, wanted, list(batch))
        stored_ok = await self._store(fresh)
        from_cache = frozenset(wanted["image"].found) if "image" in wanted else frozenset()
        failed = frozenset() if cache_ok and stored_ok else frozenset({"cache_unavailable"})
        return [
            Scored(
                prepared=job,
                scores=score,
                cached_images=frozenset(s.content_sha256 for s in job.usable_images) & from_cache,
                degraded=job.degraded | failed,
            )
            for job, score in zip(batch, scores, strict=True)
        ]

    def _encode(self, w: _Wanted) -> dict[str, Vector]:
        keys = w.missing()
        if not keys:
            return {}
        encoders = {
            "text": self.scorer.encode_token_ids if self.tokenized else self.scorer.encode_texts,
            "image": self.scorer.encode_images,
            "clip_text": self.scorer.clip_encode_texts,
            "clip_image": self.scorer.clip_encode_images,
        }
        encode: Callable[[list[object]], Vector] = encoders.get(  # type: ignore[assignment]
            w.kind, partial(self.scorer.classify, w.kind)
        )
        inputs = [w.inputs[key] for key in keys]
        if any(value is None for value in inputs):
            # Known from the URL memo, but its embedding left the cache since: rare.
            raise ModelError(f"{w.kind} embedding of a remembered image is no longer cached")
        vectors = encode(inputs)
        return {key: np.asarray(vectors[i], dtype=np.float32) for i, key in enumerate(keys)}

    def _compute(
        self, wanted: dict[str, _Wanted], batch: list[Prepared]
    ) -> tuple[dict[str, dict[str, Vector]], list[PostScores]]:
        """Runs on the inference thread."""
        fresh = {kind: self._encode(w) for kind, w in wanted.items()}
        table = {kind: {**w.found, **fresh[kind]} for kind, w in wanted.items()}
        # A long text is scored window by window; each post's highest window decides.
        features, owners = [], []
        for n, job in enumerate(batch):
            for text in job.window_texts:
                features.append(_features(job, text, table))
                owners.append(n)
        windows: list[list[PostScores]] = [[] for _ in batch]
        for n, found in zip(owners, self.scorer.score(features), strict=True):
            windows[n].append(found)
        return fresh, [highest_window(found) for found in windows]


def _want(w: _Wanted, slot: ImageSlot) -> None:
    """Ask for one image's ``w.kind`` output; pixels when fetched, the vector when known."""
    sha = slot.content_sha256
    if w.kind in slot.vectors:
        w.found[sha] = slot.vectors[w.kind]
    if slot.image is not None:
        w.inputs[sha] = slot.image.image
    else:
        w.inputs.setdefault(sha, None)


def _want_classified(wanted: dict[str, _Wanted], job: Prepared, texts: list[str]) -> None:
    """The added classifiers read the post itself (never its reference), window by window."""
    for kind, w in wanted.items():
        modality = kind_modality(kind)
        if modality == "text":
            for text in texts:
                if text.strip():
                    w.inputs[text_hash(text)] = text
        elif modality == "image":
            for slot in job.usable_images:
                _want(w, slot)


def _vectors(slots: Sequence[ImageSlot], table: dict[str, Vector]) -> list[Vector]:
    return [table[slot.content_sha256] for slot in slots if slot.usable]


def _features(job: Prepared, text: str, tables: dict[str, dict[str, Vector]]) -> PostFeatures:
    """The features of one window of a post (``text``: the window's text)."""
    empty: dict[str, Vector] = {}
    text_t, image_t = tables.get("text", empty), tables.get("image", empty)
    clip_text_t, clip_image_t = tables.get("clip_text", empty), tables.get("clip_image", empty)
    reference = None
    ref = job.reference
    if ref is not None and ref.unavailable is None:
        ref_text, ref_images = text_t.get(text_hash(ref.text)), _vectors(ref.images, image_t)
        if ref_text is not None or ref_images:
            reference = ReferenceFeatures(text=ref_text, images=ref_images, raw_text=ref.text)
    post_hash = text_hash(text)
    return PostFeatures(
        text=text_t.get(post_hash),
        images=_vectors(job.images, image_t),
        clip_text=clip_text_t.get(post_hash),
        clip_images=_vectors(job.images, clip_image_t) if post_hash in clip_text_t else [],
        reference=reference,
        raw_text=text,
        classified=_classified(job, text, tables),
    )


def _classified(job: Prepared, text: str, tables: dict[str, dict[str, Vector]]) -> dict[str, list[Vector]]:
    found: dict[str, list[Vector]] = {}
    for kind, table in tables.items():
        modality = kind_modality(kind)
        if modality == "text" and text_hash(text) in table:
            found[kind] = [table[text_hash(text)]]
        elif modality == "image" and job.usable_images:
            found[kind] = _vectors(job.images, table)
    return found
