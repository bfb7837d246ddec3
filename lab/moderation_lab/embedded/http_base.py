"""What the local test HTTP servers share: a quiet handler with a plain reply, and a
threaded loopback server holding in-memory files and per-path hit counts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from moderation_lab.embedded.ports import LOOPBACK

__all__ = ["CountingServer", "QuietHandler"]


class QuietHandler(BaseHTTPRequestHandler):
    """No access log (tests make hundreds of requests); one-call replies."""

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class CountingServer(ThreadingHTTPServer):
    """A loopback server on a free port, with in-memory files and request counts."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__((LOOPBACK, 0), handler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.hits: dict[str, int] = {}
        self._lock = threading.Lock()

    def count(self, path: str) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1

    def hit_count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up early (timeout and drip tests) are expected, not errors."""
