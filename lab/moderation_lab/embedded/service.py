"""The life cycle every embedded server shares: free port, child process, readiness
poll, clean stop. Subclasses say how to start one and how to tell it is up.

Example::

    class EmbeddedThing(LocalService):
        name = "thing"
        def _argv(self, port: int) -> list[str]: ...
        def _answers(self, port: int) -> bool: ...
        def _url(self, port: int) -> str: ...
"""

from __future__ import annotations

import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from moderation_lab.embedded.ports import free_port
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.errors import ServiceError

__all__ = ["LocalService"]


class LocalService(ABC):
    """A server run as our child process on a free loopback port."""

    #: Used in messages and as the log file's stem.
    name: str = "service"
    poll_interval_s: float = 0.02

    def __init__(
        self, workdir: Path | None = None, *, start_timeout_s: float = 15.0, stop_timeout_s: float = 5.0
    ) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"embedded-{self.name}-"))
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._child: ChildProcess | None = None
        self.port = 0

    @abstractmethod
    def _argv(self, port: int) -> list[str]:
        """Command line of the server listening on ``port``; ServiceError if it cannot run."""

    @abstractmethod
    def _answers(self, port: int) -> bool:
        """Whether the server answers its protocol on ``port`` yet."""

    @abstractmethod
    def _url(self, port: int) -> str:
        """The URL clients use."""

    def _env(self) -> Mapping[str, str] | None:
        return None

    def _before_stop(self, child: ChildProcess) -> None:  # noqa: B027 - optional hook
        """A polite shutdown request, before SIGTERM; none by default."""

    @property
    def url(self) -> str:
        if self._child is None:
            raise ServiceError(f"{self.name} not started")
        return self._url(self.port)

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, *, port: int | None = None) -> str:
        """Start the server and wait until it answers; returns its URL.

        ``port`` reuses a known port (a restart that clients reconnect to at the same
        URL); by default a free one is picked.
        """
        if self._child is not None:
            return self.url
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        argv = self._argv(self.port)
        child = ChildProcess(argv, self.log_path, self._env())
        try:
            child.start()
        except OSError as exc:
            raise ServiceError(f"cannot run {argv[0]}: {exc}") from exc
        self._child = child
        if not self._wait_ready(child):
            tail = child.log_tail()
            self.stop()
            raise ServiceError(f"{self.name} did not answer on port {self.port}; log tail:\n{tail}")
        return self.url

    def _wait_ready(self, child: ChildProcess) -> bool:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline and child.running():
            if self._answers(self.port):
                return True
            time.sleep(self.poll_interval_s)
        return False

    def stop(self) -> None:
        """Stop the server (polite request, SIGTERM, then SIGKILL); idempotent."""
        child, self._child = self._child, None
        if child is None:
            return
        if child.running():
            self._before_stop(child)
        child.stop(self._stop_timeout_s)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
