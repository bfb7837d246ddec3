"""Where images are fetched: bounded, policed HTTP downloads decoded to RGB.

Limits, each a setting: the URL policy on every hop (:mod:`worker.fetch.url_policy`,
enforced where connections are opened, :mod:`worker.fetch.pinned`), at most
``fetch_max_redirects`` redirects, connect / read / whole-fetch timeouts, a body
cap counted while streaming, ``fetch_concurrency`` fetches at once and
``fetch_per_host`` per host, and a body that must start like an allowed image
format (a 50 MB HTML page is dropped after its first bytes).

Every failure leaves as a :class:`~worker.errors.FetchError`; nothing from httpx or
Pillow escapes this module.

Example::

    async with ImageFetcher(settings.fetch) as fetcher:
        fetched = await fetcher.fetch("https://cdn.example.org/cat.jpg")
        fetched.image.size, fetched.content_sha256
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httpcore
import httpx
from PIL import Image

from worker.config.views import FetchConfig
from worker.errors import (
    BlockedURL,
    FetchTimeout,
    HostUnreachable,
    HTTPStatusError,
    NotAnImage,
    ResponseTooLarge,
)
from worker.fetch.decode import ALLOWED_FORMATS, SNIFF_BYTES, decode_image, sniff_format
from worker.fetch.limits import FetchLimits
from worker.fetch.pinned import PinnedTransport
from worker.fetch.url_policy import ALLOWED_SCHEMES, AddressPolicy, Resolver, resolve_host

__all__ = ["FetchedImage", "ImageFetcher"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# CDNs negotiate formats: without this, some answer AVIF or JPEG XL, which we refuse.
_ACCEPT = {"accept": "image/webp,image/png,image/jpeg,image/gif,image/bmp;q=0.9,*/*;q=0.1"}


@dataclass(frozen=True, slots=True)
class FetchedImage:
    """One downloaded and decoded image.

    ``url`` is the URL asked for, before redirects; ``fetch_ms`` is the wall time of
    the whole :meth:`ImageFetcher.fetch`, waiting for a slot and decoding included.
    ``width`` and ``height`` are the stored image's; a JPEG's ``image`` may be decoded
    smaller (``decode_min_side``).
    """

    url: str
    content: bytes
    content_sha256: str
    image: Image.Image
    width: int
    height: int
    format: str
    fetch_ms: float


#: The host httpx quotes in "Invalid URL in location header: Invalid IPv4 address: '...'".
_QUOTED = re.compile(r"'([^'\s]+)'")


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


class ImageFetcher:
    """Downloads images under the URL policy, size cap, deadlines and concurrency limits.

    Its own client connects through :class:`~worker.fetch.pinned.PinnedTransport`:
    ``resolver`` replaces DNS and ``network`` the sockets (tests pass fakes for
    both). ``client`` replaces the whole client (tests pass one built on
    ``httpx.MockTransport``): it is not closed by :meth:`aclose`, and only the
    checks that need no DNS (scheme, literal addresses) apply to it.
    """

    def __init__(
        self,
        config: FetchConfig,
        client: httpx.AsyncClient | None = None,
        *,
        resolver: Resolver = resolve_host,
        network: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._config = config
        self._policy = AddressPolicy.build(config.allow_private_hosts, config.allow_private_endpoints)
        # Set per request so an injected client gets the same limits as our own.
        self._timeout = httpx.Timeout(config.fetch_read_timeout_s, connect=config.fetch_connect_timeout_s)
        self._owns_client = client is None
        if client is None:
            limits = httpx.Limits(max_connections=config.fetch_concurrency)
            transport = PinnedTransport(self._policy, limits=limits, resolver=resolver, inner=network)
            # No proxies from the environment: a proxy would resolve names itself.
            client = httpx.AsyncClient(transport=transport, follow_redirects=False, trust_env=False)
        self._client = client
        self._limits = FetchLimits(config.fetch_concurrency, config.fetch_per_host)
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
        # out images that were never requested.
        async with self._limits.hold(parsed.host):
            try:
                async with asyncio.timeout(self._config.fetch_total_timeout_s):
                    content = await self._download(parsed)
            except TimeoutError as exc:
                raise FetchTimeout(f"fetching {url} took over the deadline") from exc
        loop = asyncio.get_running_loop()
        decoded = await loop.run_in_executor(
            self._decoder,
            decode_image,
            content,
            self._config.max_image_pixels,
            self._config.decode_min_side,
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

    def _parse(self, url: str | httpx.URL) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            # httpx refuses some address spellings inet_aton accepts (0177.0.0.1,
            # 127.000.000.001): name the address they mean, as for every other spelling.
            self._judge_unparsed(str(url))
            raise BlockedURL(f"invalid URL {url!r}: {exc}") from exc
        if parsed.scheme not in ALLOWED_SCHEMES:
            raise BlockedURL(f"scheme {parsed.scheme!r} not allowed in {url}")
        if not parsed.host:
            raise BlockedURL(f"URL has no host: {url}")
        return parsed

    def _judge_unparsed(self, url: str) -> None:
        """Refuse a URL httpx cannot parse by the address its host spells, if it spells one."""
        try:
            parts = urlsplit(url)
            host, port = parts.hostname, parts.port
        except ValueError:
            return
        if host is None:
            return
        default = 443 if parts.scheme.lower() == "https" else 80
        self._policy.check_literal(host, port or default)

    def _check(self, url: httpx.URL) -> None:
        """Refuse literal addresses before any request; names are vetted on connect."""
        # The host as the client will connect to it (IDNA-encoded), not as displayed:
        # checking a different spelling than the one used would defeat the check.
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        self._policy.check_literal(host, port)

    async def _download(self, url: httpx.URL) -> bytes:
        """Follow redirects by hand so every hop passes the URL policy."""
        status = 0
        for _hop in range(self._config.fetch_max_redirects + 1):
            self._check(url)
            request = self._client.build_request("GET", url, headers=_ACCEPT, timeout=self._timeout)
            with _httpx_errors(url):
                try:
                    response = await self._client.send(request, stream=True)
                except httpx.RemoteProtocolError as exc:
                    self._refuse_unparsed_redirect(url, exc)
                    raise
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
            f"more than {self._config.fetch_max_redirects} redirects, last to {url}", status
        )

    def _refuse_unparsed_redirect(self, url: httpx.URL, exc: httpx.RemoteProtocolError) -> None:
        """httpx reads a redirect's Location before we see the response, and fails on
        spellings it cannot parse: name the address it quotes, as for any other hop."""
        message = str(exc)
        if "location header" not in message:
            return
        quoted = _QUOTED.search(message)
        if quoted is not None:
            self._policy.check_literal(quoted.group(1), url.port or 80)
        raise BlockedURL(f"{url} redirects to an unusable URL: {message}") from exc

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
        cap = self._config.fetch_max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(f"{response.url} declares {declared} bytes, cap is {cap}")
        body = bytearray()
        sniffed = False
        # Decoded bytes are counted, so a gzip-encoded bomb is caught too.
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > cap:
                raise ResponseTooLarge(f"{response.url} sent more than {cap} bytes")
            if not sniffed and len(body) >= SNIFF_BYTES:
                _require_image_start(response.url, body)
                sniffed = True
        _require_image_start(response.url, body)
        return bytes(body)


def _require_image_start(url: httpx.URL, head: bytes | bytearray) -> None:
    """Stop reading a body as soon as its first bytes show it is no allowed image."""
    if sniff_format(bytes(head[:SNIFF_BYTES])) is None:
        allowed = ", ".join(ALLOWED_FORMATS)
        raise NotAnImage(f"body of {url} is not an image in an allowed format ({allowed})")
