"""The worker talks to nothing and writes nowhere but what it was configured with.

Proven at the system-call level, where every library must pass (ONNX Runtime's telemetry
lives in its native library, out of reach of any Python hook): a worker with local models
and the ONNX Runtime backends, then ``train`` on a tiny CSV, run under strace with a fresh
home directory and none of the telemetry switches in their environment (the worker sets
them itself, worker.ops.egress). Every address tried must be the broker, Redis or the image
server; every file written must lie in a configured folder.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from moderation_lab.egress.trace import Trace, endpoint, strace_argv, stray_files, unexpected_peers
from moderation_lab.embedded.kafka_io import collect, produce
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.stack import EmbeddedStack

from tests.integration.test_worker import Topics, post, verdict_ids
from worker.ops.egress import NO_TELEMETRY, OFFLINE

pytestmark = pytest.mark.integration


def bare_environment(env: dict[str, str], home: Path, tmp: Path) -> dict[str, str]:
    """``env`` without the switches the worker must set itself, with a fresh home and tmp."""
    bare = {k: v for k, v in env.items() if k not in {*NO_TELEMETRY, *OFFLINE, "XDG_CACHE_HOME"}}
    bare.update(HOME=str(home), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    return bare


@pytest.fixture(scope="module", autouse=True)
def _strace_works(tmp_path_factory: pytest.TempPathFactory) -> None:
    """strace needs ptrace, which some containers forbid (no CAP_SYS_PTRACE, seccomp)."""
    probe = tmp_path_factory.mktemp("strace-probe") / "t"
    try:
        done = subprocess.run(strace_argv(probe, ["true"]), capture_output=True, timeout=30, check=False)
    except FileNotFoundError:
        pytest.skip("strace is not installed: make strace")
    if done.returncode != 0:
        pytest.skip(f"strace cannot trace here: {done.stderr.decode(errors='replace').strip()[:200]}")


@pytest.fixture
def traced_dirs(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, tmp, traces = tmp_path / "home", tmp_path / "tmp", tmp_path / "traces"
    for folder in (home, tmp, traces):
        folder.mkdir()
    return home, tmp, traces


def test_a_worker_and_train_reach_only_the_broker_redis_and_the_image_server(
    stack: EmbeddedStack, traced_dirs: tuple[Path, Path, Path]
) -> None:
    home, tmp, traces = traced_dirs
    topics = Topics()
    url = stack.broker.url
    asyncio.run(topics.create(url))
    stack.add_images(["/images/a.png"])
    onnx = stack.workdir / "onnx-egress"
    env = stack.worker_env(
        onnx_cache_dir=onnx,
        text_backend="ort-fp32",
        image_backend="ort-fp32",
        clip_text_backend="ort-fp32",
        clip_image_backend="ort-fp32",
        **topics.settings(),
    )
    env = bare_environment(env, home, tmp)
    worker = ChildProcess(
        strace_argv(traces / "worker", [sys.executable, "-m", "worker.cli", "run"]),
        stack.workdir / "egress-worker.log",
        env=env,
    )
    worker.start()
    try:
        image = stack.images.url("/images/a.png")
        posts = [
            (f"e{i}".encode(), post(f"e{i}", f"an ordinary post {i}", [image] if i % 2 else []))
            for i in range(4)
        ]
        asyncio.run(produce(url, topics.posts, posts))
        wanted = {key.decode() for key, _ in posts}
        records = asyncio.run(
            collect(url, [topics.verdicts], lambda rs: wanted <= set(verdict_ids(rs, topics.verdicts)), 240)
        )
        assert wanted <= set(verdict_ids(records, topics.verdicts)), worker.log_tail()
    finally:
        worker.stop(timeout_s=30)

    data = tmp / "tiny.csv"
    rows = [f"{'free prize click now' if i % 2 else 'see you at lunch'} {i},{i % 2}" for i in range(40)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    head = stack.workdir / "egress-head"
    train_args = [
        "train",
        "category",
        "spam",
        str(data),
        "--out",
        str(head),
        "--cv",
        "2",
        "--cache",
        "none",
    ]
    trainer = ChildProcess(
        strace_argv(traces / "train", [sys.executable, "-m", "worker.cli", *train_args]),
        stack.workdir / "egress-train.log",
        env=env,
    )
    trainer.start()
    assert trainer.wait(300), trainer.log_tail()
    assert (head / "head.json").exists() or any(head.iterdir()), trainer.log_tail()

    allowed = {endpoint(url), endpoint(stack.redis.url), endpoint(stack.images.url("/"))}
    for name in ("worker", "train"):
        trace = Trace.read(traces / name, stack.workdir)
        assert trace.lines, f"strace wrote nothing for {name}"
        assert not unexpected_peers(trace.peers(), allowed), (name, unexpected_peers(trace.peers(), allowed))
        configured = [
            onnx,
            head,
            stack.workdir / "egress-worker.log",
            stack.workdir / "egress-train.log",
            tmp,
        ]
        assert not stray_files(trace.written(), configured), (name, stray_files(trace.written(), configured))
    assert not any(home.iterdir()), f"written under the home folder: {sorted(home.rglob('*'))}"
