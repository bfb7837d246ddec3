"""The embedding cache on a real three-node Redis Cluster (MODERATION_REDIS_CLUSTER)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.redis_server import redis_answers

from tests.conftest import _unavailable
from worker.config.settings import Settings
from worker.inference.cache import EmbeddingCache, SeenPost

pytestmark = pytest.mark.integration


def cluster_port() -> int:
    """A free port whose cluster-bus twin (port + 10000) is free too: Redis Cluster
    refuses ports above 55535, which the kernel's ephemeral range often hands out."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 55000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        _unavailable("redis-server/redis-cli", FileNotFoundError("not on PATH"))
    assert server is not None and cli is not None
    ports = [cluster_port() for _ in range(3)]
    nodes = []
    for port in ports:
        folder: Path = tmp_path_factory.mktemp(f"node-{port}")
        argv = [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(folder / "nodes.conf"),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ]
        node = ChildProcess(argv, folder / "redis.log")
        node.start()
        nodes.append(node)
    try:
        deadline = time.monotonic() + 10
        for port in ports:
            while not redis_answers("127.0.0.1", port):
                if time.monotonic() > deadline:
                    _unavailable("Redis Cluster", RuntimeError(f"node on port {port} did not start"))
                time.sleep(0.05)
        create = [
            cli,
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]
        done = subprocess.run(create, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            _unavailable("Redis Cluster", RuntimeError(done.stdout + done.stderr))
        # Slots are assigned; wait until every node agrees the cluster is up.
        for port in ports:
            while (
                "cluster_state:ok"
                not in subprocess.run(
                    [cli, "-p", str(port), "cluster", "info"], capture_output=True, text=True, timeout=10
                ).stdout
            ):
                if time.monotonic() > deadline + 30:
                    _unavailable("Redis Cluster", RuntimeError("cluster_state never became ok"))
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{ports[0]}/0"
    finally:
        for node in nodes:
            node.stop()


async def test_vectors_and_posts_round_trip_across_the_cluster(cluster_url: str) -> None:
    settings = Settings(redis_url=cluster_url, redis_cluster=True, redis_timeout_s=5)  # type: ignore[arg-type]
    cache = EmbeddingCache.from_settings(settings)
    await cache.ping()
    vectors = {f"hash-{i}": np.full(8, i, dtype=np.float32) for i in range(50)}
    await cache.put_many("text", "enc", vectors)  # 50 keys spread over three nodes
    found = await cache.get_many("text", "enc", [*vectors, "absent"])
    assert set(found) == set(vectors)
    assert all(np.array_equal(found[k], v) for k, v in vectors.items())
    await cache.remember_post("p1", SeenPost("hello", ("https://x/1.png",)))
    assert await cache.recall_post("p1") == SeenPost("hello", ("https://x/1.png",))
    await cache.aclose()
