"""Explanations for posts whose flags are known, in batches of their own, off the batch loop.

The pipeline asks for a post's explanations once its verdict's categories are decided
(:func:`wanted`: the flagged ones by default). Requests that arrive while a batch of
explanations computes are gathered into the next one, and every batch runs on the
stage's own thread: the scoring loop never waits for an explanation, and a classifier
is called once per source per batch with the variants of all its posts
(:func:`explain_batch`). An explanation that fails costs the post its explanations,
never its verdict.

Example::

    stage = ExplainStage(catalog, settings.explain)
    found = await stage.explain(ExplainRequest("a post", (), frozenset({"hate"})))
    found.text["hate"].spans
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from worker.config.views import ExplainConfig
from worker.explain.image import explain_images
from worker.explain.spans import Explanation, HeatMap

if TYPE_CHECKING:
    from worker.explain.catalog import Catalog

__all__ = ["ExplainRequest", "ExplainStage", "PostExplanations", "explain_batch", "explain_stage", "wanted"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExplainRequest:
    """One post: its text as sent, its usable images (with their index in the verdict's
    ``images``), and the categories to explain."""

    text: str
    images: tuple[tuple[int, Image.Image], ...]
    categories: frozenset[str]


@dataclass(frozen=True)
class PostExplanations:
    text: dict[str, Explanation] = field(default_factory=dict)
    images: dict[str, tuple[HeatMap, ...]] = field(default_factory=dict)
    #: why explanations are missing (an error), or None
    failed: str | None = None

    @property
    def passes(self) -> int:
        return sum(e.passes for e in self.text.values()) + sum(
            h.passes for m in self.images.values() for h in m
        )


def wanted(config: ExplainConfig, flagged: Mapping[str, bool], explainable: set[str]) -> frozenset[str]:
    """The categories a verdict explains: flagged ones, every scored one, or none."""
    if config.explain_categories == "off":
        return frozenset()
    chosen = flagged if config.explain_categories == "scored" else {c for c, f in flagged.items() if f}
    return frozenset(c for c in chosen if c in explainable)


def explain_batch(
    catalog: Catalog, requests: Sequence[ExplainRequest], config: ExplainConfig
) -> list[PostExplanations]:
    """All requests' explanations: per source, one explainer call for all its posts."""
    found = [PostExplanations() for _ in requests]
    for source in catalog.text:
        rows = [n for n, r in enumerate(requests) if r.text.strip() and r.categories & source.columns.keys()]
        if not rows:
            continue
        columns = {c: source.columns[c] for n in rows for c in requests[n].categories if c in source.columns}
        texts = [requests[n].text for n in rows]
        results = source.explain(texts, columns, config.explain_top_k, config.explain_span_text)
        for n, result in zip(rows, results, strict=True):
            for category in requests[n].categories & result.keys():
                found[n].text.setdefault(category, result[category])
    for image_source in catalog.image:
        rows = [n for n, r in enumerate(requests) if r.images and r.categories & image_source.columns.keys()]
        if not rows:
            continue
        columns = {
            c: image_source.columns[c]
            for n in rows
            for c in requests[n].categories
            if c in image_source.columns
        }
        owners = [(n, index) for n in rows for index, _ in requests[n].images]
        images = [image for n in rows for _, image in requests[n].images]
        maps = explain_images(
            images, image_source.scores, columns, config.explain_image_grid, config.explain_max_batch
        )
        for (n, index), per in zip(owners, maps, strict=True):
            for category in requests[n].categories & per.keys():
                heat = per[category]
                rebased = HeatMap(heat.category, index, heat.rows, heat.cols, heat.cells, heat.logit)
                found[n].images[category] = (*found[n].images.get(category, ()), rebased)
    return found


class ExplainStage:
    """Gathers requests into batches and runs them on a thread of their own."""

    def __init__(self, catalog: Catalog, config: ExplainConfig, max_posts: int = 16) -> None:
        self.catalog, self.config, self.max_posts = catalog, config, max_posts
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="explain")
        self._pending: list[tuple[ExplainRequest, asyncio.Future[PostExplanations]]] = []
        self._arrived = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def explainable(self) -> set[str]:
        return self.catalog.categories()

    async def explain(self, request: ExplainRequest) -> PostExplanations:
        if not request.categories:
            return PostExplanations()
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="explain-batches")
        future: asyncio.Future[PostExplanations] = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        self._arrived.set()
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._pending:
                batch, self._pending = self._pending[: self.max_posts], self._pending[self.max_posts :]
                requests = [request for request, _ in batch]
                try:
                    results = await loop.run_in_executor(
                        self._executor, explain_batch, self.catalog, requests, self.config
                    )
                except Exception as exc:  # a failing explainer costs explanations, never verdicts
                    log.warning("explaining %d posts failed: %r", len(batch), exc)
                    results = [PostExplanations(failed=f"{type(exc).__name__}: {exc}"[:300])] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        self._executor.shutdown(wait=True)


def explain_stage(scorer: object, config: ExplainConfig) -> ExplainStage | None:
    """The stage for a loaded model (``None``: explanations off, or nothing it could explain)."""
    from worker.explain.catalog import catalog_for
    from worker.model.moderation import ModerationModel

    if config.explain_categories == "off" or not isinstance(scorer, ModerationModel):
        return None
    catalog = catalog_for(scorer, config)
    for part, why in catalog.skipped.items():
        log.info("explanations: %s %s", part, why)
    return ExplainStage(catalog, config) if catalog.categories() else None
