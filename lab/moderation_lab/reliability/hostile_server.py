"""An image host that misbehaves on purpose, on a loopback port, for the hostile corpus.

Routes (every request is counted by path):

* ``/file/<name>``: bytes added with :meth:`HostileServer.add`, under any content type;
* ``/status/<code>``: that status, with a short text body;
* ``/redirect?to=<url>``: a 302 to ``to``;
* ``/huge?mb=<n>&declare=<0|1>``: ``n`` MB starting like a PNG, streamed from a
  generator (never held in memory); with ``declare=1`` the length is announced;
* ``/drip?bytes=<n>``: a PNG header, then one byte a second;
* ``/hang``: reads the request, then answers nothing until the client gives up.

Example::

    with HostileServer() as host:
        url = host.add("cut.png", body[:100], "image/png")
        host.url("/drip?bytes=600")
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from moderation_lab.embedded.http_base import CountingServer, QuietHandler
from moderation_lab.embedded.ports import LOOPBACK

__all__ = ["HostileServer"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK = 64 * 1024


class _Handler(QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        self.server.count(parts.path)
        route = parts.path.split("/")[1] if parts.path.count("/") else ""
        handler = getattr(self, f"_route_{route}", None)
        if handler is None:
            self._reply(404, b"no such route\n", "text/plain")
        else:
            handler(parts.path, query)

    def _route_file(self, path: str, query: dict[str, str]) -> None:
        found = self.server.files.get(path.removeprefix("/file/"))
        if found is None:
            self._reply(404, b"not found\n", "text/plain")
        else:
            self._reply(200, *found)

    def _route_status(self, path: str, query: dict[str, str]) -> None:
        code = path.removeprefix("/status/")
        self._reply(int(code) if code.isdigit() else 400, b"status route\n", "text/plain")

    def _route_redirect(self, path: str, query: dict[str, str]) -> None:
        self.send_response(302)
        self.send_header("Location", query.get("to", "/"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _route_huge(self, path: str, query: dict[str, str]) -> None:
        total = int(float(query.get("mb", "50")) * 1024 * 1024)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if query.get("declare") == "1":
            self.send_header("Content-Length", str(total))
        self.end_headers()
        sent = 0
        block = PNG_SIGNATURE + bytes(_CHUNK - len(PNG_SIGNATURE))
        while sent < total:  # the client hangs up at its cap: BrokenPipe ends the handler
            self.wfile.write(block if sent == 0 else bytes(_CHUNK))
            sent += _CHUNK

    def _route_drip(self, path: str, query: dict[str, str]) -> None:
        count = int(query.get("bytes", "600"))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG_SIGNATURE) + count))
        self.end_headers()
        self.wfile.write(PNG_SIGNATURE)
        for _ in range(count):
            self.wfile.flush()
            time.sleep(1.0)
            self.wfile.write(b"\0")

    def _route_hang(self, path: str, query: dict[str, str]) -> None:
        time.sleep(float(query.get("seconds", "30")))


class _Server(CountingServer):
    def __init__(self) -> None:
        super().__init__(_Handler)


class HostileServer:
    """Threaded HTTP server of misbehaving routes on a free loopback port."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:PORT``, for ``allow_private_endpoints``."""
        return f"{LOOPBACK}:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.endpoint}" + (path if path.startswith("/") else "/" + path)

    def add(self, name: str, body: bytes, content_type: str) -> str:
        """Serve ``body`` at ``/file/<name>``; returns its URL."""
        self._server.files[name] = (body, content_type)
        return self.url(f"/file/{name}")

    def hits(self, path: str) -> int:
        with self._server._lock:
            return self._server.hits.get(path, 0)

    def start(self) -> HostileServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="hostile-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> HostileServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
