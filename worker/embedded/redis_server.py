"""An embedded ``redis-server`` for the demo and the integration tests.

It runs as our child (``--daemonize no``), keeps nothing on disk (``--save ""``,
``--appendonly no``) and listens on a free loopback port only.

Example::

    with EmbeddedRedis(data_dir) as server:
        settings = Settings(redis_url=server.url)
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType

from worker.embedded.ports import LOOPBACK, free_port
from worker.embedded.process import ChildProcess
from worker.errors import ServiceError

__all__ = ["EmbeddedRedis", "redis_answers"]

_INSTALL_HINT = "install it with: apt-get install redis-server"


def _command(host: str, port: int, command: bytes, timeout_s: float) -> bytes:
    """Send one inline command, return the first reply bytes (b"" on any failure)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(command + b"\r\n")
            return sock.recv(64)
    except OSError:
        return b""


def redis_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether a Redis server at ``host:port`` answers PING with PONG."""
    return _command(host, port, b"PING", timeout_s).startswith(b"+PONG")


class EmbeddedRedis:
    """A ``redis-server`` child process on a free loopback port.

    ``start()`` returns ``redis://127.0.0.1:PORT/0`` once PING answers, or raises
    :class:`ServiceError` (with the log tail, or how to install the server).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="embedded-redis-"))
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._child: ChildProcess | None = None
        self.port = 0

    @property
    def url(self) -> str:
        if self._child is None:
            raise ServiceError("redis-server not started")
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def start(self) -> str:
        """Start redis-server and wait for PONG; returns its ``redis://`` URL."""
        if self._child is not None:
            return self.url
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(f"redis-server is not on PATH; {_INSTALL_HINT}")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir),
        ]
        child = ChildProcess(argv, self.log_path)
        try:
            child.start()
        except OSError as exc:
            raise ServiceError(f"cannot run {binary}: {exc}") from exc
        self._child = child
        if not self._wait_ready(child):
            tail = child.log_tail()
            self.stop()
            raise ServiceError(f"redis-server did not answer on port {self.port}; log:\n{tail}")
        return self.url

    def _wait_ready(self, child: ChildProcess) -> bool:
        deadline = time.monotonic() + self._start_timeout_s
        while time.monotonic() < deadline and child.running():
            if redis_answers(LOOPBACK, self.port):
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Shut the server down without saving; SIGTERM/SIGKILL if it does not obey."""
        child, self._child = self._child, None
        if child is None:
            return
        if child.running():
            # SHUTDOWN closes the connection instead of answering; any reply is ignored.
            _command(LOOPBACK, self.port, b"SHUTDOWN NOSAVE", timeout_s=1.0)
            child.wait(self._stop_timeout_s)
        child.stop(self._stop_timeout_s)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
