"""What ``search`` does once its options are parsed (see :mod:`worker.audit.commands`).

Example::

    hits = search_command(Settings(), SearchArgs(query="a red car"), Console())
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.table import Table

from worker.audit.errors import CompareError
from worker.audit.replay.ranges import parse_time
from worker.audit.search import Hit, load_images, search_images, write_contact_sheet
from worker.config.settings import Settings
from worker.errors import CacheError
from worker.inference.cache import EmbeddingCache
from worker.model.choice import named_settings
from worker.model.types import Scorer

__all__ = ["SearchArgs", "search_command"]


@dataclass(frozen=True)
class SearchArgs:
    """The ``search`` command's options."""

    query: str | None = None
    like: Path | None = None
    verdicts: str | None = None
    from_time: str | None = None
    to_time: str | None = None
    top: int = 20
    sheet: Path = Path("search.html")
    sets: list[str] = field(default_factory=list)


def _like_image(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise CompareError(f"cannot read --like image {path}: {exc}") from exc


async def run_search(settings: Settings, scorer: Scorer, args: SearchArgs) -> tuple[list[Hit], str]:
    """Load the images, rank them; the hits and a line saying where embeddings came from."""
    if (args.query is None) == (args.like is None):
        raise CompareError("give a text query or --like IMAGE (one of the two)")
    like = _like_image(args.like)
    source = args.verdicts or f"topic:{settings.verdicts_topic}"
    from_ms = parse_time(args.from_time) if args.from_time else None
    to_ms = parse_time(args.to_time) if args.to_time else None
    images = await load_images(settings, source, from_ms, to_ms)
    cache = EmbeddingCache.from_settings(settings) if settings.cache_enabled else None
    try:
        hits, stats = await search_images(
            settings, scorer, cache, images, query=args.query, like=like, top=args.top
        )
    finally:
        if cache is not None:
            with contextlib.suppress(CacheError):  # closing a cache that never answered
                await cache.aclose()
    note = (
        f"{stats.images} images in {source}: {stats.from_cache} embeddings from the cache, "
        f"{stats.encoded} encoded now, {len(stats.unavailable)} unavailable"
    )
    return hits, note


def search_command(base: Settings, args: SearchArgs, console: Console) -> list[Hit]:
    """Load CLIP (with the worker's settings, so cache keys agree), search, print, write the sheet."""
    settings = named_settings(base, None, args.sets)
    from worker.model import ModerationModel  # torch: only once the arguments are known good

    scorer = ModerationModel.load(settings)
    hits, note = asyncio.run(run_search(settings, scorer, args))
    title = f"images like {args.query!r}" if args.query else f"images like {args.like}"
    table = Table(title=title)
    for column in ("rank", "post id", "score", "url"):
        table.add_column(column)
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), hit.post_id, f"{hit.score:.4f}", hit.url)
    console.print(table)
    console.print(note)
    write_contact_sheet(args.sheet, title, hits)
    console.print(f"contact sheet: {args.sheet}")
    return hits
