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
from pathlib import Path

from moderation_lab.embedded.ports import LOOPBACK
from moderation_lab.embedded.process import ChildProcess
from moderation_lab.embedded.service import LocalService
from moderation_lab.errors import ServiceError

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


class EmbeddedRedis(LocalService):
    """A ``redis-server`` child process on a free loopback port.

    ``start()`` returns ``redis://127.0.0.1:PORT/0`` once PING answers, or raises
    :class:`ServiceError` (with the log tail, or how to install the server).
    """

    name = "redis"

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        start_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        super().__init__(data_dir, start_timeout_s=start_timeout_s, stop_timeout_s=stop_timeout_s)

    @property
    def data_dir(self) -> Path:
        return self.workdir

    def _argv(self, port: int) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError(f"redis-server is not on PATH; {_INSTALL_HINT}")
        return [
            binary,
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--daemonize",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]

    def _answers(self, port: int) -> bool:
        return redis_answers(LOOPBACK, port)

    def _url(self, port: int) -> str:
        return f"redis://{LOOPBACK}:{port}/0"

    def _before_stop(self, child: ChildProcess) -> None:
        # SHUTDOWN closes the connection instead of answering; any reply is ignored.
        _command(LOOPBACK, self.port, b"SHUTDOWN NOSAVE", timeout_s=1.0)
        child.wait(self._stop_timeout_s)
