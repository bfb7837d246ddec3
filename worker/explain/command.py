"""``moderation-worker explain``: a post's verdict with the words and regions behind it.

Example::

    moderation-worker explain --text "what a shameless, bizarre claim"
    moderation-worker explain --posts posts.jsonl --post-id p-17 --out heat/
    moderation-worker explain --replay audit.jsonl --post-id p-17      # its post, read from Kafka
    moderation-worker explain --topic posts --partition 0 --offset 41 --categories scored
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Literal

import typer
from PIL import Image
from rich.console import Console

from worker.config.settings import Settings, load_settings
from worker.errors import ModerationError
from worker.messages import Post, SourceCoordinates

__all__ = ["explain", "register"]

Which = Literal["flagged", "scored"]


def _post(
    settings: Settings,
    text: str | None,
    posts: Path | None,
    replay: Path | None,
    post_id: str | None,
    where: tuple[str | None, int | None, int | None],
) -> Post:
    from worker.explain.source import coordinates_in_replay, post_at, post_in_file, post_of_text

    topic, partition, offset = where
    given = sum(x is not None for x in (text, posts, replay, topic))
    if given != 1:
        raise typer.BadParameter("give exactly one of --text, --posts, --replay, --topic")
    if text is not None:
        return post_of_text(text)
    if posts is not None:
        return post_in_file(posts, post_id, settings.max_message_bytes)
    if replay is not None:
        if post_id is None:
            raise typer.BadParameter("--replay needs --post-id")
        return asyncio.run(post_at(settings, coordinates_in_replay(replay, post_id)))
    if partition is None or offset is None:
        raise typer.BadParameter("--topic needs --partition and --offset")
    assert topic is not None
    return asyncio.run(
        post_at(
            settings, SourceCoordinates(topic=topic, partition=partition, offset=offset, timestamp_ms=None)
        )
    )


async def _fetch(settings: Settings, urls: list[str], console: Console) -> list[Image.Image]:
    from worker.errors import FetchError
    from worker.fetch.client import ImageFetcher

    images = []
    fetcher = ImageFetcher(settings.fetch)
    try:
        for url in urls:
            try:
                images.append((await fetcher.fetch(url)).image)
            except FetchError as exc:
                console.print(f"[yellow]image {url} not used: {type(exc).__name__}: {exc}")
    finally:
        await fetcher.aclose()
    return images


def explain(
    text: Annotated[str | None, typer.Option(help="Explain a post with this text (no image).")] = None,
    posts: Annotated[Path | None, typer.Option(help="JSONL file of posts as producers send them.")] = None,
    replay: Annotated[
        Path | None, typer.Option(help="JSONL of verdicts (replay, audit): its post is read from Kafka.")
    ] = None,
    post_id: Annotated[str | None, typer.Option(help="The post to explain in --posts or --replay.")] = None,
    topic: Annotated[str | None, typer.Option(help="Read the post at these source coordinates.")] = None,
    partition: Annotated[int | None, typer.Option(help="With --topic.")] = None,
    offset: Annotated[int | None, typer.Option(help="With --topic.")] = None,
    categories: Annotated[
        str, typer.Option(help="flagged: the categories that flagged it; scored: all.")
    ] = "flagged",
    out: Annotated[Path, typer.Option(help="Folder for the images' heat maps (PNG overlays).")] = Path("."),
) -> None:
    """Show a post's verdict with the spans behind each explained category highlighted, and
    write each image's heat map over it as a PNG. Models and policy: MODERATION_* settings."""
    from worker.explain.post import explain_post
    from worker.explain.show import heat_rows, highlighted, overlay, span_table
    from worker.model import ModerationModel
    from worker.verdicts.policy import check_policy

    if categories not in ("flagged", "scored"):
        raise typer.BadParameter("--categories is flagged or scored")
    console = Console()
    try:
        settings = load_settings()
        post = _post(settings, text, posts, replay, post_id, (topic, partition, offset))
        images = asyncio.run(_fetch(settings, list(post.image_urls), console)) if post.image_urls else []
        model = ModerationModel.load(settings)
        check_policy(settings, model.category_names)
        config = settings.model_copy(update={"explain_categories": categories}).explain
        result = explain_post(model, settings, post.text, images, config)
    except ModerationError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    decision = result.decision
    state = "[bold red]flagged" if decision.reasons else "[green]not flagged"
    console.print(f"post [bold]{post.id}[/]: {state}")
    for reason in decision.reasons:
        console.print(f"  {reason}")
    shown = ", ".join(
        f"{c} {s:.3f}" + (" (untrained)" if c in decision.untrained else "")
        for c, s in decision.scores.items()
    )
    console.print(f"scores: {shown}")
    found = result.explanations
    if found.failed:
        console.print(f"[yellow]explanations failed: {found.failed}")
    if post.text:
        console.print(highlighted(post.text, found.text))
    if found.text:
        console.print(span_table(post.text, found.text))
    if result.unexplained:
        console.print(f"not explained (no method for their model): {', '.join(result.unexplained)}")
    out.mkdir(parents=True, exist_ok=True)
    for category, maps in found.images.items():
        for line, heat in zip(heat_rows(maps), maps, strict=True):
            path = out / f"{post.id}-image{heat.image}-{category.replace(':', '_')}.png"
            overlay(images[heat.image], heat).save(path)
            console.print(f"{category}: {line} -> {path}")


def register(app: typer.Typer) -> None:
    """Add the ``explain`` command to ``app``."""
    app.command("explain")(explain)
