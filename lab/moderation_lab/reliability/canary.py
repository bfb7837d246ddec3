"""A canary on loopback: it counts every TCP connection anyone makes to it.

The hostile corpus points blocked URLs (every spelling of loopback, redirects to
it...) at this port. It listens on ``127.0.0.1`` and ``::1`` with one port number,
so each spelling would really reach it if the URL policy let the request through:
``0.0.0.0``, ``[::]`` and ``[::ffff:127.0.0.1]`` all land here on Linux. A count of
zero after the run proves that no blocked URL was ever requested; a connection
counts even if no request line follows.

Example::

    with Canary() as canary:
        url = f"http://0x7f.1:{canary.port}/secret"
        ...
        assert canary.connections == 0
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
import time
from types import TracebackType

from moderation_lab.embedded.ports import LOOPBACK

__all__ = ["Canary"]

_REPLY = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ncanary\n"


def _listeners() -> list[socket.socket]:
    """Sockets on 127.0.0.1:P and, where IPv6 works, [::1]:P, for one free P."""
    for _ in range(20):
        v4 = socket.create_server((LOOPBACK, 0))
        port = v4.getsockname()[1]
        try:
            v6 = socket.create_server(("::1", port), family=socket.AF_INET6)
        except OSError as exc:
            if exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):  # no IPv6 here
                return [v4]
            v4.close()
            continue  # port taken on ::1: try another
        return [v4, v6]
    raise OSError("no port free on both 127.0.0.1 and ::1")


class Canary:
    """Counts connections on one port of 127.0.0.1 and ::1; answers each with a tiny body."""

    def __init__(self) -> None:
        self._sockets = _listeners()
        self.port: int = self._sockets[0].getsockname()[1]
        self._lock = threading.Lock()
        self._count = 0
        self.peers: list[str] = []
        self._threads: list[threading.Thread] = []

    @property
    def connections(self) -> int:
        with self._lock:
            return self._count

    @property
    def families(self) -> list[str]:
        """``["IPv4", "IPv6"]`` when it listens on both."""
        return ["IPv6" if s.family == socket.AF_INET6 else "IPv4" for s in self._sockets]

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, peer = listener.accept()
            except OSError:  # closed by stop()
                return
            with self._lock:
                self._count += 1
                self.peers.append(str(peer[0]))
            with contextlib.suppress(OSError), conn:
                conn.settimeout(1.0)
                conn.recv(4096)
                conn.sendall(_REPLY)

    def self_test(self, timeout_s: float = 2.0) -> None:
        """Prove the canary would notice: dial each listener, see it counted, reset to 0."""
        for listener in self._sockets:
            host = "::1" if listener.family == socket.AF_INET6 else LOOPBACK
            with socket.create_connection((host, self.port), timeout=timeout_s) as probe:
                probe.sendall(b"GET /self-test HTTP/1.0\r\n\r\n")
                probe.recv(64)
        deadline = time.monotonic() + timeout_s
        while self.connections < len(self._sockets) and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.connections != len(self._sockets):
            raise RuntimeError(f"canary counted {self.connections} of {len(self._sockets)} probes")
        with self._lock:
            self._count = 0
            self.peers.clear()

    def start(self) -> Canary:
        for listener in self._sockets:
            thread = threading.Thread(target=self._serve, args=(listener,), name="canary", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for listener in self._sockets:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for thread in self._threads:
            thread.join(timeout=2.0)

    def __enter__(self) -> Canary:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
