"""ImageFetcher: unit tests on httpx.MockTransport, integration tests on a real local server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import hashlib
import io
import socket
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from moderation_lab.embedded import ImageServer
from moderation_lab.reliability.canary import Canary
from moderation_lab.reliability.corpus import ssrf_hosts
from moderation_lab.reliability.hostile_server import PNG_SIGNATURE
from PIL import Image, ImageFile

from worker.config.settings import Settings
from worker.errors import (
    BlockedURL,
    FetchTimeout,
    HostUnreachable,
    HTTPStatusError,
    ModerationError,
    NotAnImage,
    ResponseTooLarge,
)
from worker.fetch.client import FetchedImage, ImageFetcher

# What the fake resolver knows; every other name fails like a DNS miss.
DNS = {
    "img.example": "93.184.216.34",
    "cdn.example": "151.101.1.69",
    "internal.example": "10.0.0.7",
    "metadata.example": "169.254.169.254",
}

Handler = Callable[[httpx.Request], Any]


async def fake_resolver(host: str, port: int) -> Sequence[str]:
    try:
        return [DNS[host]]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png(size: tuple[int, int] = (8, 6), color: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    return encode(Image.new("RGB", size, color), "PNG")


@functools.cache
def bomb_png(side: int) -> bytes:
    # Mode "1" keeps even huge sides cheap to build: blank rows compress to almost nothing.
    return encode(Image.new("1", (side, side)), "PNG")


def image_response(body: bytes, content_type: str = "image/png") -> httpx.Response:
    return httpx.Response(200, content=body, headers={"content-type": content_type})


@contextlib.asynccontextmanager
async def fetcher_for(handler: Handler, **settings: Any) -> AsyncIterator[ImageFetcher]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with client, ImageFetcher(Settings(**settings).fetch, client, resolver=fake_resolver) as f:
        yield f


async def fetch_one(handler: Handler, url: str = "http://img.example/a.png", **settings: Any) -> FetchedImage:
    async with fetcher_for(handler, **settings) as fetcher:
        return await fetcher.fetch(url)


# --- success ------------------------------------------------------------------------


async def test_png_is_decoded_to_rgb_with_its_hash() -> None:
    body = png((8, 6))
    fetched = await fetch_one(lambda request: image_response(body))
    assert (fetched.width, fetched.height, fetched.format) == (8, 6, "PNG")
    assert fetched.image.mode == "RGB" and fetched.image.getpixel((0, 0)) == (255, 0, 0)
    assert fetched.content == body
    assert fetched.content_sha256 == hashlib.sha256(body).hexdigest()
    assert fetched.url == "http://img.example/a.png" and fetched.fetch_ms >= 0


@pytest.mark.parametrize("fmt", ["JPEG", "GIF", "WEBP", "BMP"])
async def test_allowed_formats_decode(fmt: str) -> None:
    body = encode(Image.new("RGB", (10, 4), (0, 0, 255)), fmt)
    fetched = await fetch_one(lambda request: image_response(body))
    assert (fetched.format, fetched.image.size, fetched.image.mode) == (fmt, (10, 4), "RGB")


async def test_transparency_is_flattened_onto_white() -> None:
    body = encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG")
    fetched = await fetch_one(lambda request: image_response(body))
    assert fetched.image.getpixel((1, 1)) == (255, 255, 255)


def gradient(size: tuple[int, int]) -> Image.Image:
    """A smooth image: what it looks like survives any reasonable downscale."""
    return Image.merge(
        "RGB",
        [
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
            Image.new("L", size, 128),
        ],
    )


@pytest.mark.parametrize(
    ("size", "min_side", "decoded"),
    [
        ((1024, 576), 224, (512, 288)),  # 1/4 would make 144 < 224
        ((4032, 3024), 224, (504, 378)),  # a phone photo: 1/8
        ((1024, 576), 0, (1024, 576)),  # reduction off
        ((300, 200), 224, (300, 200)),  # already too small to halve
        ((1024, 576), 600, (1024, 576)),  # the short side may not drop below min_side
    ],
)
async def test_jpegs_decode_at_the_smallest_scale_that_keeps_min_side(
    size: tuple[int, int], min_side: int, decoded: tuple[int, int]
) -> None:
    body = encode(gradient(size), "JPEG", quality=90)
    fetched = await fetch_one(lambda request: image_response(body, "image/jpeg"), decode_min_side=min_side)
    assert fetched.image.size == decoded and fetched.image.mode == "RGB"
    assert (fetched.width, fetched.height) == size  # the stored size is what is reported


async def test_a_reduced_jpeg_looks_like_the_full_one_scaled_down() -> None:
    body = encode(gradient((1024, 576)), "JPEG", quality=90)
    handler = functools.partial(lambda body, request: image_response(body, "image/jpeg"), body)
    reduced = (await fetch_one(handler)).image
    full = (await fetch_one(handler, decode_min_side=0)).image.resize(reduced.size, Image.Resampling.BOX)
    differences = np.abs(np.asarray(reduced, dtype=np.int16) - np.asarray(full, dtype=np.int16))
    assert differences.max() <= 4 and differences.mean() < 0.5


async def test_rotation_is_applied_to_a_reduced_jpeg() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    body = encode(gradient((1024, 576)), "JPEG", exif=exif.tobytes())
    fetched = await fetch_one(lambda request: image_response(body, "image/jpeg"))
    assert fetched.image.size == (288, 512)


async def test_other_formats_are_never_reduced() -> None:
    body = encode(gradient((1024, 576)), "PNG")
    fetched = await fetch_one(lambda request: image_response(body))
    assert fetched.image.size == (1024, 576)


# --- HTTP status -----------------------------------------------------------------------


@pytest.mark.parametrize(("status", "retriable"), [(404, False), (403, False), (500, True), (429, True)])
async def test_error_status_raises_with_code(status: int, retriable: bool) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        await fetch_one(lambda request: httpx.Response(status))
    assert caught.value.status_code == status
    assert caught.value.retriable is retriable


# --- size cap --------------------------------------------------------------------------


async def test_declared_length_over_cap_is_refused_unread() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    with pytest.raises(ResponseTooLarge):
        await fetch_one(handler, fetch_max_bytes=4096)


async def test_streamed_body_stops_at_cap() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        yield PNG_SIGNATURE
        for _ in range(10_000):  # 10 MB if nobody stops reading
            sent.append(1024)
            yield b"\0" * 1024

    with pytest.raises(ResponseTooLarge):
        await fetch_one(lambda request: httpx.Response(200, content=endless()), fetch_max_bytes=4096)
    assert sum(sent) <= 4096 + 1024  # stopped one chunk after the cap


async def test_gzip_body_is_capped_after_decompression() -> None:
    body = gzip.compress(PNG_SIGNATURE + b"\0" * 100_000)  # ~100 bytes on the wire
    headers = {"content-encoding": "gzip"}
    with pytest.raises(ResponseTooLarge):
        await fetch_one(lambda r: httpx.Response(200, content=body, headers=headers), fetch_max_bytes=4096)


# --- URL policy and redirects -------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://2130706433/a.png",
        "http://017700000001/a.png",
        "http://0x7f000001/a.png",
        "http://0x7f.1/a.png",
        "http://127.1/a.png",
        "http://0/a.png",
        "http://0177.0.0.1/a.png",
        "http://[::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://[::ffff:7f00:1]/a.png",
        "http://[64:ff9b::a9fe:a9fe]/a.png",
        "http://[fd00::1]/a.png",
        "http://[fe80::1%25eth0]/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.9/a.png",
        "http://10.1.2.3/a.png",
        "http://0.0.0.0/a.png",
        "http://224.0.0.1/a.png",
        "http://240.0.0.1/a.png",
        "ftp://img.example/a.png",
        "file:///etc/passwd",
        "not a url",
    ],
)
async def test_blocked_urls_are_never_requested(url: str) -> None:
    """Refused before any request, even through an injected client (no DNS needed)."""
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return image_response(png())

    with pytest.raises(BlockedURL):
        await fetch_one(handler, url)
    assert seen == []


async def test_private_hosts_allowed_when_configured() -> None:
    fetched = await fetch_one(
        lambda request: image_response(png()), "http://127.0.0.1/a.png", allow_private_hosts=True
    )
    assert fetched.format == "PNG"


async def test_an_allowed_endpoint_opens_that_port_only() -> None:
    settings = {"allow_private_endpoints": ["127.0.0.1:8080"]}
    fetched = await fetch_one(
        lambda request: image_response(png()), "http://127.0.0.1:8080/a.png", **settings
    )
    assert fetched.format == "PNG"
    with pytest.raises(BlockedURL):
        await fetch_one(lambda request: image_response(png()), "http://127.0.0.1:8081/a.png", **settings)


def test_private_hosts_are_refused_by_default() -> None:
    assert Settings().allow_private_hosts is False
    assert Settings().allow_private_endpoints == ()


def redirecting(chain: dict[str, str], final: bytes) -> tuple[Handler, list[str]]:
    """A handler answering 302 for URLs in ``chain`` and the image otherwise."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        target = chain.get(str(request.url))
        if target is not None:
            return httpx.Response(302, headers={"location": target})
        return image_response(final)

    return handler, seen


async def test_redirects_are_followed_relative_and_across_hosts() -> None:
    handler, seen = redirecting(
        {
            "http://img.example/a.png": "/b.png",
            "http://img.example/b.png": "https://cdn.example/c.png",
        },
        png(),
    )
    fetched = await fetch_one(handler)
    assert fetched.format == "PNG"
    assert seen[-1] == "https://cdn.example/c.png"


@pytest.mark.parametrize(
    "target", ["http://127.1/x.png", "http://169.254.169.254/", "http://[::1]:6379/", "file:///etc/passwd"]
)
async def test_redirect_to_blocked_host_is_refused_before_the_hop(target: str) -> None:
    handler, seen = redirecting({"http://img.example/a.png": target}, png())
    with pytest.raises(BlockedURL):
        await fetch_one(handler)
    assert seen == ["http://img.example/a.png"]


async def test_too_many_redirects() -> None:
    handler, _ = redirecting({f"http://img.example/{i}": f"/{i + 1}" for i in range(10)}, png())
    with pytest.raises(HTTPStatusError, match="redirects"):
        await fetch_one(handler, "http://img.example/0", fetch_max_redirects=3)


# --- timeouts and network errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectTimeout("connect"), FetchTimeout),
        (httpx.ReadTimeout("read"), FetchTimeout),
        (httpx.ConnectError("refused"), HostUnreachable),
        (httpx.RemoteProtocolError("garbage"), HostUnreachable),
    ],
)
async def test_transport_errors_are_translated(raised: Exception, expected: type[ModerationError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(expected) as caught:
        await fetch_one(handler)
    assert caught.value.__cause__ is raised
    assert caught.value.retriable


async def test_whole_fetch_deadline() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return image_response(png())

    with pytest.raises(FetchTimeout):
        await fetch_one(slow, fetch_total_timeout_s=0.1)


# --- decoding -----------------------------------------------------------------------------


async def test_non_image_bytes() -> None:
    with pytest.raises(NotAnImage):
        await fetch_one(lambda request: image_response(b"<html>hello</html>", "text/html"))


async def test_a_body_that_starts_like_no_image_is_dropped_after_its_first_bytes() -> None:
    sent: list[int] = []

    async def page() -> AsyncIterator[bytes]:
        for _ in range(10_000):  # a 10 MB web page served as image/png
            sent.append(1024)
            yield b"<html>" + b" " * 1018

    with pytest.raises(NotAnImage, match="allowed format"):
        await fetch_one(
            lambda request: httpx.Response(200, content=page(), headers={"content-type": "image/png"})
        )
    assert sum(sent) <= 1024


async def test_the_content_type_is_not_trusted() -> None:
    body = png()
    fetched = await fetch_one(lambda request: image_response(body, "text/plain"))
    assert fetched.format == "PNG"


async def test_truncated_png() -> None:
    body = encode(Image.effect_noise((64, 64), 50).convert("RGB"), "PNG")
    with pytest.raises(NotAnImage, match="truncated"):
        await fetch_one(lambda request: image_response(body[: len(body) // 2]))


@pytest.mark.parametrize(("fmt", "mode"), [("TIFF", "RGB"), ("ICO", "RGBA"), ("PPM", "RGB")])
async def test_disallowed_formats(fmt: str, mode: str) -> None:
    body = encode(Image.new(mode, (16, 16)), fmt)
    with pytest.raises(NotAnImage, match="allowed format"):
        await fetch_one(lambda request: image_response(body))


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records every pixel decode, to prove bombs are refused from the header alone."""
    calls: list[object] = []
    real_load = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> Any:
        calls.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


async def test_decompression_bomb_refused_before_decoding(loads: list[object]) -> None:
    body = bomb_png(3000)  # 9 M pixels in a few KB
    assert len(body) < 20_000
    with pytest.raises(NotAnImage, match="more than 1000000 pixels"):
        await fetch_one(lambda request: image_response(body), max_image_pixels=1_000_000)
    assert loads == []


async def test_bomb_beyond_pillows_own_limit(loads: list[object]) -> None:
    body = bomb_png(15_000)  # 225 M pixels: Pillow's guard fires while reading the header
    with pytest.raises(NotAnImage, match="pixels"):
        await fetch_one(lambda request: image_response(body))
    assert loads == []


async def test_between_pillows_warning_and_its_error_the_image_is_still_refused(loads: list[object]) -> None:
    # 100 M pixels: Pillow (limit ~89 M) only warns up to twice its limit, then decodes.
    # Outside pytest that warning is a line on stderr, so it is silenced here as there.
    body = bomb_png(10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(NotAnImage, match=f"more than {Image.MAX_IMAGE_PIXELS} pixels"):
            await fetch_one(lambda request: image_response(body), max_image_pixels=200_000_000)
    assert loads == []


# --- concurrency ------------------------------------------------------------------------------


async def test_concurrency_limits_overall_and_per_host() -> None:
    in_flight: dict[str, int] = {}
    peak: dict[str, int] = {}
    body = png()

    async def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host
        in_flight[host] = in_flight.get(host, 0) + 1
        in_flight["*"] = in_flight.get("*", 0) + 1
        for key in (host, "*"):
            peak[key] = max(peak.get(key, 0), in_flight[key])
        await asyncio.sleep(0.02)
        in_flight[host] -= 1
        in_flight["*"] -= 1
        return image_response(body)

    urls = [f"http://{host}/{i}.png" for i in range(6) for host in ("img.example", "cdn.example")]
    async with fetcher_for(handler, fetch_per_host=2, fetch_concurrency=3) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert len(results) == len(urls)
    assert peak["*"] == 3
    assert peak["img.example"] <= 2 and peak["cdn.example"] <= 2


# --- integration: a real HTTP server over loopback ----------------------------------------------


def real_settings(**overrides: Any) -> Settings:
    return Settings(**{"allow_private_hosts": True, **overrides})


@pytest.mark.integration
async def test_fetches_sample_images_from_local_server(image_server: ImageServer) -> None:
    async with ImageFetcher(real_settings().fetch) as fetcher:
        png_image = await fetcher.fetch(image_server.url("/img/green-48x32.png"))
        jpeg_image = await fetcher.fetch(image_server.url("/img/grey-160x120.jpg"))
    assert (png_image.format, png_image.width, png_image.height) == ("PNG", 48, 32)
    assert (jpeg_image.format, jpeg_image.width, jpeg_image.height) == ("JPEG", 160, 120)


@pytest.mark.integration
async def test_local_server_error_routes(image_server: ImageServer) -> None:
    async with ImageFetcher(real_settings(fetch_read_timeout_s=0.2).fetch) as fetcher:
        for status in (404, 500):
            with pytest.raises(HTTPStatusError) as caught:
                await fetcher.fetch(image_server.url(f"/status/{status}"))
            assert caught.value.status_code == status
        with pytest.raises(HTTPStatusError):
            await fetcher.fetch(image_server.url("/img/missing.png"))
        redirected = await fetcher.fetch(image_server.url("/redirect?to=/img/red-64.png"))
        assert redirected.width == 64
        with pytest.raises(FetchTimeout):
            await fetcher.fetch(image_server.url("/slow/img/red-64.png?delay=2"))


@pytest.mark.integration
async def test_loopback_refused_unless_allowed(image_server: ImageServer) -> None:
    before = image_server.hits("/img/red-64.png")
    async with ImageFetcher(Settings(allow_private_hosts=False).fetch) as fetcher:
        with pytest.raises(BlockedURL, match="loopback"):
            await fetcher.fetch(image_server.url("/img/red-64.png"))
    assert image_server.hits("/img/red-64.png") == before


@pytest.mark.integration
async def test_closed_port_is_unreachable() -> None:
    from moderation_lab.embedded import free_port

    async with ImageFetcher(real_settings().fetch) as fetcher:
        with pytest.raises(HostUnreachable):
            await fetcher.fetch(f"http://127.0.0.1:{free_port()}/a.png")


@pytest.mark.integration
async def test_no_spelling_of_loopback_reaches_a_real_listener(image_server: ImageServer) -> None:
    """Real sockets: a canary on 127.0.0.1 and ::1 counts every connection it gets."""
    allowed = image_server.base_url.removeprefix("http://")
    settings = Settings(allow_private_endpoints=[allowed])
    with Canary() as canary:
        canary.self_test()
        urls = [f"http://{host}/x.png" for host in ssrf_hosts(canary.port)]
        urls += [image_server.url(f"/redirect?to=http://{host}/x.png") for host in ssrf_hosts(canary.port)]
        async with ImageFetcher(settings.fetch) as fetcher:
            for url in urls:
                with pytest.raises(BlockedURL):
                    await fetcher.fetch(url)
            fetched = await fetcher.fetch(image_server.url("/img/red-64.png"))  # the allowed one works
        assert canary.connections == 0, canary.peers
    assert fetched.width == 64


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # httpx cannot parse these two; they are refused as the address they spell.
        (
            "http://0177.0.0.1:8080/a.png",
            r"0177\.0\.0\.1 \(127\.0\.0\.1\) is not a public address \(loopback\)",
        ),
        ("http://127.000.000.001/a.png", r"\(127\.0\.0\.1\) is not a public address \(loopback\)"),
        ("http://255.255.255.255/a.png", r"\(broadcast\)"),
        ("http://127.0.0.1./a.png", r"\(127\.0\.0\.1\) is not a public address \(loopback\)"),
        ("http://localhost./a.png", r"localhost\. \(127\.0\.0\.1\) is not a public address \(loopback\)"),
    ],
)
async def test_hostile_spellings_are_named_for_what_they_are(url: str, reason: str) -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return image_response(png())

    with pytest.raises(BlockedURL, match=reason):
        await fetch_one(handler, url)  # fake_resolver fails any lookup: none happens
    assert seen == []


async def test_an_unparsable_url_keeps_the_parsers_reason() -> None:
    with pytest.raises(BlockedURL, match=r"invalid URL .*Invalid IPv4 address"):
        await fetch_one(
            lambda request: image_response(png()), "http://0177.0.0.1/a.png", allow_private_hosts=True
        )
