"""A local HTTP server of in-memory files, standing in for image hosts.

Besides the files added with :meth:`ImageServer.add`, it serves routes for the
fetcher's failure paths:

* ``/status/<code>``: answers with that status (404, 500, ...);
* ``/redirect?to=<path or URL>``: a 302 to ``to``;
* ``/slow/<path>?delay=<seconds>``: headers at once, the file's body after ``delay``.

Example::

    with ImageServer() as server:
        urls = server.add_samples()       # {"red-64.png": "http://127.0.0.1:P/img/red-64.png"}
        server.url("/status/404")
"""

from __future__ import annotations

import io
import threading
import time
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

from moderation_lab.embedded.http_base import CountingServer, QuietHandler
from moderation_lab.embedded.ports import LOOPBACK

__all__ = ["ImageServer", "sample_images"]

_SAMPLES = (
    # name, size, background, stripe colour
    ("red-64.png", (64, 64), (200, 30, 30), (255, 255, 255)),
    ("green-48x32.png", (48, 32), (30, 160, 60), (0, 0, 0)),
    ("blue-64.jpg", (64, 64), (30, 60, 200), (255, 220, 0)),
    ("grey-160x120.jpg", (160, 120), (128, 128, 128), (20, 20, 20)),
    ("orange-256.png", (256, 256), (240, 140, 20), (40, 40, 160)),
)


def sample_images() -> dict[str, tuple[bytes, str]]:
    """Small deterministic images: ``name -> (bytes, content type)``, PNG and JPEG."""
    samples: dict[str, tuple[bytes, str]] = {}
    for name, size, background, stripe in _SAMPLES:
        image = Image.new("RGB", size, background)
        draw = ImageDraw.Draw(image)
        # A diagonal stripe, so images differ in shape and not only in colour.
        draw.line([(0, 0), (size[0] - 1, size[1] - 1)], fill=stripe, width=max(2, size[0] // 8))
        buffer = io.BytesIO()
        is_png = name.endswith(".png")
        fmt, content_type = ("PNG", "image/png") if is_png else ("JPEG", "image/jpeg")
        image.save(buffer, format=fmt)
        samples[name] = (buffer.getvalue(), content_type)
    return samples


class _Handler(QuietHandler):
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.count(parts.path)
        if parts.path.startswith("/status/") and parts.path[8:].isdigit():
            self._reply(int(parts.path[8:]), b"status route\n", "text/plain")
        elif parts.path == "/redirect" and "to" in query:
            self.send_response(302)
            self.send_header("Location", query["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path.startswith("/slow/"):
            delay = float(query.get("delay", ["1"])[0])
            self._serve_file(parts.path[len("/slow") :], delay)
        else:
            self._serve_file(parts.path, 0.0)

    def _serve_file(self, path: str, delay: float) -> None:
        found = self.server.files.get(path)
        if found is None:
            self._reply(404, b"not found\n", "text/plain")
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        time.sleep(delay)
        self.wfile.write(body)


class _Server(CountingServer):
    def __init__(self) -> None:
        super().__init__(_Handler)


class ImageServer:
    """Threaded HTTP server on a free loopback port serving in-memory files."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def add(self, path: str, body: bytes, content_type: str) -> str:
        """Serve ``body`` at ``path``; returns its URL."""
        path = path if path.startswith("/") else "/" + path
        self._server.files[path] = (body, content_type)
        return self.url(path)

    def add_samples(self, prefix: str = "/img/") -> dict[str, str]:
        """Serve :func:`sample_images` under ``prefix``; returns ``name -> URL``."""
        return {
            name: self.add(prefix + name, body, content_type)
            for name, (body, content_type) in sample_images().items()
        }

    def hits(self, path: str) -> int:
        """How many requests ``path`` has received (query string ignored)."""
        return self._server.hit_count(path)

    def start(self) -> str:
        """Serve in a background thread; returns the base URL."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, name="image-server", daemon=True
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> ImageServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
