"""``replay-demo``: the audit tools end to end on the embedded stack, as a user runs them.

Starts the broker, Redis, the image server and a live ``moderation-worker run``;
produces the demo's posts stamped one minute apart from ``2026-11-20T00:00:00Z``;
waits for the live verdicts; then runs the real commands, each in its own process:
a replay by time and one by offsets, twice each (and checks that both runs give the
same verdicts apart from processing times), a replay of the whole log, one with a
stricter bias threshold, and ``compare`` of the live topic against both. Everything
is written under ``.run/replay-demo-*/``.

Example::

    exit_code = run_replay_demo(None, 40, Path(".models/tiny"))
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

from aiokafka import AIOKafkaProducer
from rich.console import Console

from moderation_lab.demo.data import demo_posts, find_data_dir
from moderation_lab.demo.run import DEMO_MAX_MESSAGE_BYTES
from moderation_lab.embedded.kafka_io import Record, collect, create_topics
from moderation_lab.embedded.stack import EmbeddedStack
from worker.audit.replay.canonical import canonical_lines
from worker.audit.replay.ranges import parse_time
from worker.config.settings import Settings

__all__ = ["START", "run_replay_demo"]

START = "2026-11-20T00:00:00Z"
MINUTE = 60_000


async def _produce_stamped(url: str, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=url.removeprefix("kafka://"), acks="all")
    await producer.start()
    try:
        for i, (key, value) in enumerate(records):
            await producer.send(topic, value, key=key, timestamp_ms=parse_time(START) + i * MINUTE)
        await producer.flush()
    finally:
        await producer.stop()


def _live_run(stack: EmbeddedStack, console: Console, n_posts: int, data_dir: Path | None) -> list[Record]:
    """Produce the demo posts and let a live worker answer them; returns its verdicts."""
    s = Settings()
    sample = demo_posts(data_dir or find_data_dir(), n_posts, stack.images.url)
    urls = [u for p in sample if p.kind == "valid" for u in json.loads(p.value).get("image_urls", [])]
    stack.add_images(sorted({urlparse(u).path for u in urls if "/images/" in u}))
    topics = [s.posts_topic, s.verdicts_topic, s.flagged_topic, s.dlq_topic]
    asyncio.run(create_topics(stack.broker.url, topics, partitions=4))
    asyncio.run(_produce_stamped(stack.broker.url, s.posts_topic, [(p.key, p.value) for p in sample]))
    valid = {json.loads(p.value)["id"] for p in sample if p.kind == "valid"}
    console.print(
        f"produced {len(sample)} posts stamped a minute apart from {START}; live worker scoring them"
    )
    worker = stack.start_worker("live", max_message_bytes=DEMO_MAX_MESSAGE_BYTES)
    records = asyncio.run(
        collect(
            stack.broker.url,
            [s.verdicts_topic],
            lambda got: valid <= {json.loads(r.value)["post_id"] for r in got},
            timeout_s=240,
        )
    )
    worker.stop(timeout_s=30.0)
    missing = valid - {json.loads(r.value)["post_id"] for r in records}
    if missing:
        console.print(worker.log_tail(40))
        raise SystemExit(f"the live worker answered {len(valid) - len(missing)} of {len(valid)} posts")
    console.print(f"live worker wrote {len(records)} verdicts to {s.verdicts_topic}")
    return records


def _command(console: Console, env: dict[str, str], args: list[str]) -> None:
    console.print(f"\n[bold]$ moderation-worker {' '.join(args)}[/]")
    # The audit commands' own entry point: the same code `moderation-worker` registers.
    done = subprocess.run([sys.executable, "-m", "worker.audit.replay", *args], env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"moderation-worker {args[0]} failed with {done.returncode}")


def _same_twice(console: Console, env: dict[str, str], workdir: Path, name: str, args: list[str]) -> bool:
    paths = [workdir / f"{name}-{i}.jsonl" for i in (1, 2)]
    for path in paths:
        _command(console, env, ["replay", *args, "--out", str(path)])
    first, second = (canonical_lines(path) for path in paths)
    same = first == second
    verdict = "[green]identical[/]" if same else "[red]DIFFERENT[/]"
    console.print(f"{name}: the two runs' {len(first)} verdicts are {verdict} apart from processing times")
    return same


def _middle_half(live: list[Record]) -> list[str]:
    """``--from``/``--to`` around the middle half of what was produced, whatever its size."""
    stamps = sorted(json.loads(r.value)["source"]["timestamp_ms"] for r in live)
    span = stamps[-1] - stamps[0]
    start, end = stamps[0] + span // 4, stamps[0] + 3 * span // 4 + 1

    def rfc3339(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    return ["--from", rfc3339(start), "--to", rfc3339(end)]


def run_replay_demo(data_dir: Path | None, n_posts: int, models_dir: Path) -> int:
    """Run the audit demo; returns the process exit code."""
    console = Console(width=max(Console().width, 150))
    workdir = (Path(".run") / time.strftime("replay-demo-%Y%m%d-%H%M%S")).resolve()
    with EmbeddedStack(workdir, models_dir) as stack:
        live = _live_run(stack, console, n_posts, data_dir)
        env = {**stack.worker_env(max_message_bytes=DEMO_MAX_MESSAGE_BYTES), "COLUMNS": "150"}
        by_time = _middle_half(live)
        same = _same_twice(console, env, workdir, "by-time", by_time)
        same &= _same_twice(console, env, workdir, "by-offsets", ["--offsets", "0:2-8", "--offsets", "1:0-"])
        threshold = round(statistics.median(json.loads(r.value)["bias"]["score"] for r in live), 3)
        _command(console, env, ["replay", "--out", str(workdir / "replay.jsonl")])
        candidate = ["--set", f"bias_threshold={threshold}", "--out", str(workdir / "candidate.jsonl")]
        _command(console, env, ["replay", *candidate])
        for name in ("replay", "candidate"):
            plot = workdir / f"live-vs-{name}.png"
            _command(
                console,
                env,
                ["compare", "topic:verdicts", str(workdir / f"{name}.jsonl"), "--plot", str(plot)],
            )
    console.print(f"\neverything is in {workdir}")
    return 0 if same else 1
