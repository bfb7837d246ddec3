"""Where replayed verdicts go: a JSONL file or an audit topic, never a live topic.

Verdicts are written byte for byte as the pipeline serialised them, one per line or
record; dead letters go beside them (``NAME.dlq.jsonl`` or topic ``NAME.dlq``).

Example::

    output = JsonlOutput(Path("audit.jsonl"))
    await output.open()
    await output.write("verdict", b"p1", payload)
    await output.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import IO, Any, Literal, Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from worker.audit.errors import ReplayError
from worker.audit.replay.kafka import kafka_errors
from worker.config.credentials import aiokafka_kwargs
from worker.config.settings import Settings

__all__ = ["JsonlOutput", "Kind", "Output", "TopicOutput", "dead_letter_path"]

Kind = Literal["verdict", "dead_letter"]
_HEADERS = [("content-type", b"application/json")]
#: Sends awaited together; bounds what the producer holds unacknowledged.
_WINDOW = 500


class Output(Protocol):
    """Receives the replay's verdicts and dead letters, in replay order."""

    description: str

    async def open(self) -> None: ...

    async def write(self, kind: Kind, key: bytes | None, value: bytes) -> None: ...

    async def close(self) -> None:
        """Flush; raise :class:`ReplayError` if anything could not be written."""


def dead_letter_path(path: Path) -> Path:
    """``audit.jsonl`` -> ``audit.dlq.jsonl``."""
    return path.with_name(f"{path.stem}.dlq{path.suffix}")


class JsonlOutput:
    """One verdict per line in ``path``; dead letters in :func:`dead_letter_path`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = f"{path} (dead letters: {dead_letter_path(path)})"
        self._files: dict[Kind, IO[bytes]] = {}
        self._stack = contextlib.ExitStack()

    async def open(self) -> None:
        try:
            self._open_files()
        except OSError as exc:
            raise ReplayError(f"cannot write {self.path}: {exc}") from exc

    def _open_files(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        paths: dict[Kind, Path] = {"verdict": self.path, "dead_letter": dead_letter_path(self.path)}
        self._files = {kind: self._stack.enter_context(path.open("wb")) for kind, path in paths.items()}

    async def write(self, kind: Kind, key: bytes | None, value: bytes) -> None:
        try:
            self._files[kind].write(value + b"\n")
        except OSError as exc:
            raise ReplayError(f"writing {self.path} failed: {exc}") from exc

    async def close(self) -> None:
        self._stack.close()


class TopicOutput:
    """Verdicts to ``topic`` (key: post id), dead letters to ``topic.dlq``; created when missing."""

    def __init__(self, settings: Settings, topic: str) -> None:
        live = {settings.posts_topic, settings.verdicts_topic, settings.flagged_topic, settings.dlq_topic}
        if topic in live or f"{topic}.dlq" in live:
            raise ReplayError(f"{topic!r} is a live topic of the worker: choose an audit topic of its own")
        self.topics: dict[Kind, str] = {"verdict": topic, "dead_letter": f"{topic}.dlq"}
        self.description = f"topic {topic} (dead letters: {topic}.dlq)"
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None  # made in open(): it needs the running loop
        self._pending: list[asyncio.Future[Any]] = []

    async def open(self) -> None:
        await self._create_topics()
        with kafka_errors("starting the audit producer"):
            self._producer = AIOKafkaProducer(acks="all", **aiokafka_kwargs(self._settings))
            await self._producer.start()

    async def _create_topics(self) -> None:
        admin = AIOKafkaAdminClient(**aiokafka_kwargs(self._settings))
        with kafka_errors("creating the audit topics"):
            await admin.start()
            try:
                for name in self.topics.values():
                    with contextlib.suppress(TopicAlreadyExistsError):
                        partitions, replicas = self._settings.topic_partitions, self._settings.topic_replicas
                        await admin.create_topics([NewTopic(name, partitions, replicas)])
            finally:
                await admin.close()

    async def write(self, kind: Kind, key: bytes | None, value: bytes) -> None:
        if self._producer is None:
            raise ReplayError("the audit output was not opened")
        with kafka_errors(f"publishing to {self.topics[kind]!r}"):
            self._pending.append(
                await self._producer.send(self.topics[kind], value, key=key, headers=_HEADERS)
            )
        if len(self._pending) >= _WINDOW:
            await self._settle()

    async def _settle(self) -> None:
        pending, self._pending = self._pending, []
        try:
            await asyncio.gather(*pending)
        except KafkaError as exc:
            raise ReplayError(f"the broker did not acknowledge audit records: {exc}") from exc

    async def close(self) -> None:
        try:
            await self._settle()
        finally:
            if self._producer is not None:
                await self._producer.stop()
