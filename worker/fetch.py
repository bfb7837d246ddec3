"""Where images are fetched: bounded, policed HTTP downloads decoded to RGB.

Every failure leaves as a :class:`~worker.errors.FetchError`; nothing from httpx or
Pillow escapes this module.

Example::

    async with ImageFetcher(settings) as fetcher:
        fetched = await fetcher.fetch("https://cdn.example.org/cat.jpg")
        fetched.image.size, fetched.content_sha256
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

import httpx
from PIL import Image

from worker.decode import decode_image
from worker.errors import (
    BlockedURL,
    FetchTimeout,
    HostUnreachable,
    HTTPStatusError,
    NotAnImage,
    ResponseTooLarge,
)
from worker.settings import Settings
from worker.url_policy import ALLOWED_SCHEMES, Resolver, check_host, resolve_host

__all__ = ["FetchedImage", "ImageFetcher"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# CDNs negotiate formats: without this, some answer AVIF or JPEG XL, which we refuse.
_ACCEPT = {"accept": "image/webp,image/png,image/jpeg,image/gif,image/bmp;q=0.9,*/*;q=0.1"}


@dataclass(frozen=True, slots=True)
class FetchedImage:
    """One downloaded and decoded image.

    ``url`` is the URL asked for, before redirects; ``fetch_ms`` is the wall time of
    the whole :meth:`ImageFetcher.fetch`, waiting for a slot and decoding included.
    """

    url: str
    content: bytes
    content_sha256: str
    image: Image.Image
    width: int
    height: int
    format: str
    fetch_ms: float


@contextlib.contextmanager
def _httpx_errors(url: httpx.URL) -> Iterator[None]:
    """Translate httpx's exceptions into the worker's fetch errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchTimeout(f"timed out fetching {url}: {type(exc).__name__}") from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise BlockedURL(f"unusable URL {url}: {exc}") from exc
    except httpx.DecodingError as exc:
        raise NotAnImage(f"body of {url} has a broken content encoding") from exc
    except httpx.HTTPError as exc:  # connection refused, DNS, protocol errors
        raise HostUnreachable(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from exc


class _HostSlots:
    """Per-host semaphores, dropped when idle so the table does not grow forever."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, host: str) -> AsyncIterator[None]:
        sem, users = self._slots.get(host, (asyncio.Semaphore(self._limit), 0))
        self._slots[host] = (sem, users + 1)
        try:
            async with sem:
                yield
        finally:
            sem, users = self._slots[host]
            if users == 1:
                del self._slots[host]
            else:
                self._slots[host] = (sem, users - 1)


class ImageFetcher:
    """Downloads images under the URL policy, size cap, deadlines and concurrency limits.

    ``client`` is injectable (tests pass one built on ``httpx.MockTransport``); a
    client passed in is not closed by :meth:`aclose`. ``resolver`` replaces DNS
    resolution for the private-address check.
    """

    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient | None = None,
        *,
        resolver: Resolver = resolve_host,
    ) -> None:
        self._settings = settings
        self._resolver = resolver
        # Set per request so an injected client gets the same limits as our own.
        self._timeout = httpx.Timeout(settings.fetch_read_timeout_s, connect=settings.fetch_connect_timeout_s)
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.fetch_concurrency),
        )
        self._slots = asyncio.Semaphore(settings.fetch_concurrency)
        self._host_slots = _HostSlots(settings.fetch_per_host)
        # Own threads for decoding so big images cannot starve the default executor,
        # which also runs the event loop's DNS lookups.
        self._decoder = ThreadPoolExecutor(
            max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="image-decode"
        )

    async def __aenter__(self) -> ImageFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client (when we made it) and the decoding threads."""
        if self._owns_client:
            await self._client.aclose()
        # Decodes already queued finish on their own (the pixel cap bounds them);
        # cancelling them would surface as a CancelledError in an uncancelled task.
        self._decoder.shutdown(wait=False)

    async def fetch(self, url: str) -> FetchedImage:
        """Download and decode one image, or raise a :class:`~worker.errors.FetchError`."""
        started = time.perf_counter()
        parsed = self._parse(url)
        # Waiting for a slot is not part of the deadline: a busy host must not time
        # out images that were never requested. Host first, so waiters for one busy
        # host do not sit on the global slots.
        async with self._host_slots.hold(parsed.host), self._slots:
            try:
                async with asyncio.timeout(self._settings.fetch_total_timeout_s):
                    content = await self._download(parsed)
            except TimeoutError as exc:
                raise FetchTimeout(f"fetching {url} took over the deadline") from exc
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(
            self._decoder, decode_image, content, self._settings.max_image_pixels
        )
        return FetchedImage(
            url=url,
            content=content,
            content_sha256=hashlib.sha256(content).hexdigest(),
            image=decoded.image,
            width=decoded.width,
            height=decoded.height,
            format=decoded.format,
            fetch_ms=(time.perf_counter() - started) * 1000.0,
        )

    @staticmethod
    def _parse(url: str | httpx.URL) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            raise BlockedURL(f"invalid URL {url!r}") from exc
        if parsed.scheme not in ALLOWED_SCHEMES:
            raise BlockedURL(f"scheme {parsed.scheme!r} not allowed in {url}")
        if not parsed.host:
            raise BlockedURL(f"URL has no host: {url}")
        return parsed

    async def _check(self, url: httpx.URL) -> None:
        if self._settings.allow_private_hosts:
            return
        # The host as the client will connect to it (IDNA-encoded), not as displayed:
        # checking a different spelling than the one used would defeat the check.
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        await check_host(host, port, resolver=self._resolver)

    async def _download(self, url: httpx.URL) -> bytes:
        """Follow redirects by hand so every hop passes the URL policy."""
        status = 0
        for _hop in range(self._settings.fetch_max_redirects + 1):
            await self._check(url)
            request = self._client.build_request("GET", url, headers=_ACCEPT, timeout=self._timeout)
            with _httpx_errors(url):
                response = await self._client.send(request, stream=True)
                status = response.status_code
                try:
                    if response.status_code in _REDIRECTS:
                        url = self._redirect_target(response)
                        continue
                    if not 200 <= response.status_code < 300:
                        raise HTTPStatusError(f"{url} answered {response.status_code}", response.status_code)
                    return await self._read_capped(response)
                finally:
                    await response.aclose()
        raise HTTPStatusError(
            f"more than {self._settings.fetch_max_redirects} redirects, last to {url}", status
        )

    def _redirect_target(self, response: httpx.Response) -> httpx.URL:
        location = response.headers.get("location")
        if not location:
            raise HTTPStatusError(f"{response.url} redirected without a Location", response.status_code)
        try:
            target = response.url.join(location)
        except httpx.InvalidURL as exc:
            raise BlockedURL(f"invalid redirect target {location!r}") from exc
        return self._parse(target)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """Read the body, giving up as soon as it passes the cap."""
        cap = self._settings.fetch_max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"{response.url} declares {declared} bytes, cap is {cap}")
        body = bytearray()
        # Decoded bytes are counted, so a gzip-encoded bomb is caught too.
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise ResponseTooLarge(f"{response.url} sent more than {cap} bytes")
        return bytes(body)
