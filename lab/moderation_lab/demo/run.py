"""``moderation-lab demo``: the whole product on one machine, then a table of what it decided.

Starts the embedded broker, ``redis-server``, a local image server and a real
``moderation-worker run`` process; produces sample posts (real tweet pairs when
``../shared/data`` exists, and then the entailment head trained on them, see
:mod:`moderation_lab.demo.heads`); waits until every post has a verdict or a dead letter;
prints them; stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from rich.console import Console
from rich.table import Table
from rich.text import Text

from moderation_lab.demo.categories import FAST_RECIPE_CV, demo_categories, rude_posts
from moderation_lab.demo.data import SamplePost, demo_posts, find_data_dir
from moderation_lab.demo.explained import explained_table
from moderation_lab.demo.heads import demo_heads
from moderation_lab.demo.known import demo_bank, known_post, known_table
from moderation_lab.embedded.kafka_io import Record, collect, create_topics, produce
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.stack import EmbeddedStack
from worker.config.settings import Settings

__all__ = ["flag_summary", "run_demo"]

DEMO_MAX_MESSAGE_BYTES = 65_536
WARNING = (
    "[bold yellow]The encoders, bias head and CLIP are tiny and have RANDOM weights:[/] their "
    "categories are shown with ~ and never flag (verdict field untrained_categories)."
)
TRAINED = (
    "[bold yellow]Real:[/] nudity (Yahoo's open_nsfw), hate and offensive (trained on the "
    "hate-offensive tweets), bias (a text head trained on BABE's news sentences, which decides the "
    "bias category), and entailment (MiniLM features and the head trained on the reference "
    "pairs). [bold yellow]Random:[/] the fused bias head, the image encoder and CLIP: their scores are "
    "shown with ~ and never flag."
)


def _score(v: dict[str, Any], category: str) -> str:
    """A category's score; ~ marks one from an untrained part (it cannot flag)."""
    if category not in v.get("category_scores", {}):
        return "-"
    mark = "~" if category in v.get("untrained_categories", []) else ""
    return f"{mark}{v['category_scores'][category]:.2f}"


def _answered(sample: list[SamplePost], records: list[Record], s: Settings) -> tuple[set[str], int]:
    verdict_ids = {r.key.decode() for r in records if r.topic == s.verdicts_topic and r.key}
    dead = sum(1 for r in records if r.topic == s.dlq_topic)
    return verdict_ids, dead


def _verdict_table(records: list[Record], topic: str, texts: dict[str, str]) -> Table:
    table = Table(title="Verdicts", show_lines=False)
    for column in (
        "post",
        "text",
        "used",
        "hate",
        "offens.",
        "nudity",
        "contra.",
        "~bias",
        "entailment",
        "images",
        "flag reasons",
        "ms",
    ):
        wrap = column in ("entailment", "flag reasons")
        table.add_column(
            column,
            no_wrap=not wrap,
            overflow="fold" if column == "flag reasons" else "ellipsis",
            max_width=40,
        )
    seen: set[str] = set()
    for record in records:
        if record.topic != topic:
            continue
        v = json.loads(record.value)
        if v["post_id"] in seen:
            continue
        seen.add(v["post_id"])
        ent = v["entailment"]
        ent_text = "-"
        if ent is not None:
            ent_text = ent["label"] if ent["status"] == "scored" else "ref unavailable"
            ent_text += f" ({ent['relation']} {ent['reference_id'][-6:]})"
        ok = sum(1 for image in v["images"] if image["status"] == "ok")
        table.add_row(
            v["post_id"][-8:],
            Text(texts.get(v["post_id"], "")[:28].replace("\n", " ")),
            "+".join(v["modalities"]),
            *(_score(v, c) for c in ("hate", "offensive", "nudity", "contradiction", "bias")),
            ent_text,
            f"{ok}/{len(v['images'])}",
            Text("; ".join(v["flag_reasons"])),
            f"{v['timings']['total_ms']:.0f}",
        )
    return table


def flag_summary(records: list[Record], topic: str) -> str:
    """How many posts each category flagged, and the fast recipe's own figure."""
    verdicts = {json.loads(r.value)["post_id"]: json.loads(r.value) for r in records if r.topic == topic}
    counts: dict[str, int] = {}
    for v in verdicts.values():
        for category, flagged in v.get("categories", {}).items():
            counts[category] = counts.get(category, 0) + int(flagged)
    shown = ", ".join(f"{c} {n}" for c, n in sorted(counts.items()) if n) or "none"
    flagged = sum(v["flagged"] for v in verdicts.values())
    summary = f"flagged {flagged}/{len(verdicts)} posts; by category: {shown}."
    if not any("hate" in v.get("category_scores", {}) for v in verdicts.values()):
        return summary  # no hate/offensive data here: the category was not added
    macro, hate = FAST_RECIPE_CV
    return (
        f"{summary} hate/offensive recipe here: TF-IDF + class-weighted logistic regression, 5-fold CV "
        f"macro-F1 {macro:.3f}, hate F1 {hate:.3f} (the best recipe: docs/categories.md)"
    )


def _dead_letter_table(records: list[Record], topic: str) -> Table:
    table = Table(title="Dead letters (posts.dlq)")
    for column in ("offset", "error", "kind", "message"):
        table.add_column(column, overflow="fold")
    for record in records:
        if record.topic == topic:
            d = json.loads(record.value)
            table.add_row(
                f"{d['source']['partition']}@{d['source']['offset']}",
                d["error"]["type"],
                d["error"]["kind"],
                Text(d["error"]["message"][:120]),
            )
    return table


def _show_endpoints(console: Console, port: int) -> None:
    """What the worker's own endpoints said at the end of the run."""
    base = f"http://127.0.0.1:{port}"
    try:
        ready = httpx.get(f"{base}/readyz", timeout=5).json()
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
    except httpx.HTTPError as exc:
        console.print(f"[red]could not read the worker's endpoints: {exc}[/]")
        return
    console.print(f"GET {base}/readyz -> {json.dumps(ready)}")
    wanted = (
        "moderation_posts_consumed_total",
        "moderation_verdicts_published_total",
        "moderation_dead_letters_total",
    )
    lines = [line for line in metrics.splitlines() if line.startswith(wanted)]
    console.print(Text(f"GET {base}/metrics ->\n  " + "\n  ".join(lines)))


def _save(workdir: Path, records: list[Record]) -> None:
    """Every record read back, one JSON object per line, for a closer look."""
    with open(workdir / "outputs.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({"topic": record.topic, "value": json.loads(record.value)}) + "\n")


def run_demo(data_dir: Path | None, n_posts: int, models_dir: Path) -> int:
    """Run the demo; returns the process exit code."""
    console = Console(width=max(Console().width, 150))
    data_dir = data_dir or find_data_dir()
    console.print(f"posts from: {data_dir or 'the built-in sample (no ../shared/data found)'}")
    workdir = Path(".run") / time.strftime("demo-%Y%m%d-%H%M%S")
    settings = Settings(max_message_bytes=DEMO_MAX_MESSAGE_BYTES)
    with EmbeddedStack(workdir, models_dir) as stack:
        console.print(f"broker {stack.broker.url}  redis {stack.redis.url}  images {stack.images.url('/')}")
        sample = demo_posts(data_dir, n_posts, stack.images.url) + rude_posts()
        paths = {
            urlparse(url).path
            for s in sample
            if s.kind == "valid"
            for url in json.loads(s.value).get("image_urls", [])
            if "/images/" in url
        }
        stack.add_images(sorted(paths))
        sample.append(known_post(stack.images))  # a repost of an image in the demo's hash bank
        topics = [settings.posts_topic, settings.verdicts_topic, settings.flagged_topic, settings.dlq_topic]
        asyncio.run(create_topics(stack.broker.url, topics, partitions=4))
        asyncio.run(produce(stack.broker.url, settings.posts_topic, [(s.key, s.value) for s in sample]))
        valid_ids = {json.loads(s.value)["id"] for s in sample if s.kind == "valid"}
        invalid = sum(1 for s in sample if s.kind == "invalid")
        console.print(f"produced {len(valid_ids)} valid and {invalid} invalid posts; starting the worker")
        heads = demo_heads(data_dir, Path(stack.models["image"]).parent, console.print)
        heads |= demo_categories(data_dir, Path(stack.models["image"]).parent.parent, console.print)
        warning = TRAINED if "heads" in heads else WARNING
        console.print(warning)
        web_port = free_port()
        worker = stack.start_worker(
            "worker",
            max_message_bytes=DEMO_MAX_MESSAGE_BYTES,
            web_port=web_port,
            known_banks=demo_bank(workdir),
            **heads,
        )
        console.print(
            f"worker endpoints: http://127.0.0.1:{web_port}/metrics (Prometheus), "
            f"/healthz (liveness), /readyz (readiness)"
        )
        started = time.monotonic()

        def done(records: list[Record]) -> bool:
            ids, dead = _answered(sample, records, settings)
            return valid_ids <= ids and dead >= invalid

        records = asyncio.run(
            collect(stack.broker.url, [settings.verdicts_topic, settings.dlq_topic], done, timeout_s=240)
        )
        elapsed = time.monotonic() - started
        _show_endpoints(console, web_port)
        exit_code = worker.stop(timeout_s=30.0)
        _save(workdir, records)
        texts = {json.loads(s.value)["id"]: json.loads(s.value)["text"] for s in sample if s.kind == "valid"}
        console.print(_verdict_table(records, settings.verdicts_topic, texts))
        console.print(explained_table(records, settings.verdicts_topic, texts))
        console.print(_dead_letter_table(records, settings.dlq_topic))
        console.print(known_table(records, settings.verdicts_topic))
        console.print(flag_summary(records, settings.verdicts_topic))
        ids, dead = _answered(sample, records, settings)
        missing = valid_ids - ids
        console.print(
            f"{len(ids & valid_ids)}/{len(valid_ids)} verdicts, {dead}/{invalid} dead letters "
            f"in {elapsed:.1f}s (worker start included); worker exited with {exit_code}; "
            f"worker log: {worker.log_path}; all outputs: {workdir / 'outputs.jsonl'}"
        )
        console.print(warning)
        if missing or dead < invalid:
            console.print(
                f"[bold red]missing answers:[/] {sorted(missing)[:10]} dead letters {dead}/{invalid}"
            )
            console.print(worker.log_tail(40))
            return 1
    return 0
