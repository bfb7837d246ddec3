"""Connections go only to addresses that were resolved once and checked.

The real HTTP/1.1 stack runs over a recording fake network, so these tests see the
address every connection was opened to and the bytes of every request.
"""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import pytest
from PIL import Image

from worker.config.settings import Settings
from worker.errors import BlockedURL, FetchTimeout, HostUnreachable
from worker.fetch.client import ImageFetcher
from worker.fetch.pinned import PinnedBackend
from worker.fetch.url_policy import AddressPolicy

DNS: dict[str, list[str]] = {
    "img.example": ["93.184.216.34"],
    "dual.example": ["93.184.216.34", "2606:2800:220:1::1"],
    "internal.example": ["10.0.0.7"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.34", "127.0.0.1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "ula.example": ["fd12:3456::1"],
    "localhost": ["127.0.0.1"],
}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (0, 128, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def http_response(body: bytes, status: str = "200 OK", headers: str = "") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: image/png\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode() + body


class Stream(httpcore.AsyncMockStream):
    """Replays a canned response; keeps what the client wrote."""

    def __init__(self, reply: bytes, written: list[bytes]) -> None:
        super().__init__([reply])
        self._written = written

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self._written.append(buffer)


class Network(httpcore.AsyncNetworkBackend):
    """A fake network: records every ``connect_tcp`` and answers with the next reply."""

    def __init__(self, *replies: bytes) -> None:
        self.replies = list(replies)
        self.connects: list[tuple[str, int]] = []
        self.written: list[bytes] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connects.append((host, port))
        return Stream(self.replies.pop(0), self.written)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Resolver:
    """Fake DNS that counts lookups; ``answers`` can change between calls."""

    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = dict(answers or DNS)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def fetcher(network: Network, resolver: Resolver | None = None, **settings: Any) -> ImageFetcher:
    return ImageFetcher(Settings(**settings).fetch, resolver=resolver or Resolver(), network=network)


async def test_connects_to_the_checked_address_with_the_original_host_header() -> None:
    network, resolver = Network(http_response(png_bytes())), Resolver()
    async with fetcher(network, resolver) as f:
        fetched = await f.fetch("http://img.example/cat.png")
    assert fetched.format == "PNG"
    assert resolver.lookups == ["img.example"]  # one lookup, not a second by the OS
    assert network.connects == [("93.184.216.34", 80)]
    request = b"".join(network.written)
    assert request.startswith(b"GET /cat.png HTTP/1.1\r\n") and b"Host: img.example\r\n" in request


@pytest.mark.parametrize(
    "host", ["internal.example", "metadata.example", "mixed.example", "mapped.example", "ula.example"]
)
async def test_a_name_with_any_non_public_address_is_refused_unconnected(host: str) -> None:
    network = Network(http_response(png_bytes()))
    async with fetcher(network) as f:
        with pytest.raises(BlockedURL, match="not a public address"):
            await f.fetch(f"http://{host}/a.png")
    assert network.connects == []


async def test_rebinding_between_connections_cannot_reach_the_new_address() -> None:
    """The name answers public, then private: each connection is checked on its own."""
    closing = http_response(png_bytes(), headers="Connection: close\r\n")
    network, resolver = Network(closing, closing), Resolver()
    async with fetcher(network, resolver) as f:
        await f.fetch("http://img.example/1.png")
        resolver.answers["img.example"] = ["127.0.0.1"]
        with pytest.raises(BlockedURL):
            await f.fetch("http://img.example/2.png")
    assert network.connects == [("93.184.216.34", 80)]
    assert resolver.lookups == ["img.example", "img.example"]


async def test_a_redirect_to_a_name_that_resolves_private_is_refused_before_connecting() -> None:
    redirect = http_response(b"", "302 Found", "Location: http://internal.example/x.png\r\n")
    network = Network(redirect, http_response(png_bytes()))
    async with fetcher(network) as f:
        with pytest.raises(BlockedURL):
            await f.fetch("http://img.example/a.png")
    assert network.connects == [("93.184.216.34", 80)]


async def test_every_address_of_a_public_name_is_tried_in_order() -> None:
    class Refusing(Network):
        async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
            if host == "93.184.216.34":
                self.connects.append((host, port))
                raise httpcore.ConnectError("refused")
            return await super().connect_tcp(host, port, *args, **kwargs)

    network = Refusing(http_response(png_bytes()))
    async with fetcher(network) as f:
        await f.fetch("http://dual.example/a.png")
    assert network.connects == [("93.184.216.34", 80), ("2606:2800:220:1::1", 80)]


async def test_unknown_name_is_unreachable() -> None:
    async with fetcher(Network()) as f:
        with pytest.raises(HostUnreachable, match="cannot resolve"):
            await f.fetch("http://nowhere.example/a.png")


async def test_slow_resolution_times_out_as_a_connect_timeout() -> None:
    async def slow(host: str, port: int) -> Sequence[str]:
        await asyncio.sleep(5)
        return ["93.184.216.34"]

    async with ImageFetcher(
        Settings(fetch_connect_timeout_s=0.05).fetch, resolver=slow, network=Network()
    ) as f:
        with pytest.raises(FetchTimeout):
            await f.fetch("http://img.example/a.png")


async def test_an_allowed_endpoint_opens_that_address_and_port_only() -> None:
    reply = http_response(png_bytes(), headers="Connection: close\r\n")
    network = Network(reply, reply)
    async with fetcher(network, allow_private_endpoints=["127.0.0.1:8080"]) as f:
        await f.fetch("http://127.0.0.1:8080/a.png")
        await f.fetch("http://localhost:8080/a.png")
        for url in ("http://127.0.0.1:8081/a.png", "http://localhost:8081/a.png", "http://[::1]:8080/"):
            with pytest.raises(BlockedURL):
                await f.fetch(url)
    assert network.connects == [("127.0.0.1", 8080), ("127.0.0.1", 8080)]


async def test_proxy_settings_from_the_environment_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy would resolve names itself, beyond the policy's reach.
    monkeypatch.setenv("HTTP_PROXY", "http://10.1.2.3:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.1.2.3:3128")
    network = Network(http_response(png_bytes()))
    async with fetcher(network) as f:
        await f.fetch("http://img.example/a.png")
    assert network.connects == [("93.184.216.34", 80)]


async def test_unix_sockets_are_never_opened() -> None:
    backend = PinnedBackend(AddressPolicy(), inner=Network())
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_unix_socket("/var/run/docker.sock")
