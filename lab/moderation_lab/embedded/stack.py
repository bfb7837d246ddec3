"""Everything the demo and the integration tests start for real, in one place: an
embedded Kafka-protocol broker (Tansu or noida-db), ``redis-server``, a local image
server, tiny models, and ``moderation-worker run`` child processes wired to them.

Example::

    with EmbeddedStack(workdir) as stack:
        worker = stack.start_worker("w1")
        ...
        stack.stop_worker(worker)
"""

from __future__ import annotations

import io
import json
import os
import sys
import zlib
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from PIL import Image, ImageDraw

from moderation_lab.embedded.brokers import default_kind, new_broker
from moderation_lab.embedded.image_server import ImageServer
from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.redis_server import EmbeddedRedis
from worker.config.settings import Settings

__all__ = ["EmbeddedStack", "sample_image"]


def sample_image(name: str, size: tuple[int, int] = (320, 240)) -> tuple[bytes, str]:
    """A deterministic picture for ``name``; PNG unless the name ends in .jpg."""
    seed = zlib.crc32(name.encode())
    colour = (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x, y = (seed >> (i * 3)) % size[0], (seed >> (i * 5)) % size[1]
        draw.rectangle((x, y, x + 60, y + 40), fill=(255 - colour[0], 128, colour[2]))
    buffer = io.BytesIO()
    is_jpeg = name.endswith((".jpg", ".jpeg"))
    image.save(buffer, format="JPEG" if is_jpeg else "PNG")
    return buffer.getvalue(), "image/jpeg" if is_jpeg else "image/png"


class EmbeddedStack:
    """Broker, Redis, image server and tiny models for local runs; stops all it started."""

    def __init__(
        self,
        workdir: Path,
        models_dir: Path | None = None,
        models: dict[str, Path] | None = None,
        broker: str | None = None,
    ) -> None:
        """``models`` (text, image, clip folders) replaces the tiny models built by default;
        ``broker`` is ``tansu`` or ``noida`` (default: ``LAB_BROKER``, else Tansu)."""
        self.workdir = workdir
        self.models_dir = models_dir or workdir / "models"
        self._given_models = models
        self.broker = new_broker(broker or default_kind(), workdir / "broker")
        self.redis = EmbeddedRedis(workdir / "redis")
        self.images = ImageServer()
        self.models: dict[str, Path] = {}
        self._workers: list[ChildProcess] = []

    def start(self) -> EmbeddedStack:
        from moderation_lab.tiny_models import build_tiny_models

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.models = self._given_models or build_tiny_models(self.models_dir)
        self.broker.start()
        self.redis.start()
        self.images.start()
        return self

    def add_images(self, paths: list[str]) -> None:
        for path in paths:
            body, content_type = sample_image(path)
            self.images.add(path, body, content_type)

    def worker_env(self, **overrides: object) -> dict[str, str]:
        """Environment of a worker wired to this stack (embedded-broker timings included)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("MODERATION_")}
        settings: dict[str, object] = {
            "broker": self.broker.url,
            "redis_url": self.redis.url,
            "text_encoder": self.models["text"],
            "image_encoder": self.models["image"],
            "clip_model": self.models["clip"],
            # The image server is on loopback: open exactly its endpoint, so the demo and
            # the tests go through the same address policy as production.
            "allow_private_endpoints": json.dumps([urlsplit(self.images.url("/")).netloc]),
            "web_port": free_port(),
            "topic_partitions": 4,
            "commit_interval_s": 0.5,
            "log_level": "info",
            # ONNX exports of the stack's models stay with the stack, not in the user's cache.
            "onnx_cache_dir": self.workdir / "onnx",
            **overrides,
        }
        # The embedded broker's timings first, so that an override given here wins.
        env.update(self.broker.worker_overrides())
        env.update({Settings.env_name(k): str(v) for k, v in settings.items()})
        env["HF_HUB_OFFLINE"] = "1"
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        return env

    def start_worker(self, name: str, **overrides: object) -> ChildProcess:
        """``moderation-worker run`` as a child process, its output in ``workdir/name.log``."""
        argv = [sys.executable, "-m", "worker.cli", "run"]
        child = ChildProcess(argv, self.workdir / f"{name}.log", env=self.worker_env(**overrides))
        child.start()
        self._workers.append(child)
        return child

    def stop(self) -> None:
        for child in self._workers:
            child.stop(timeout_s=30.0)
        self.images.stop()
        self.redis.stop()
        self.broker.stop()

    def __enter__(self) -> EmbeddedStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
