"""The hostile corpus: records a stranger could write, each with the outcome it must get.

Every case ends as a dead letter of a given kind, or as a verdict whose images
each carry the expected status ("ok") or error kind. Blocked URLs point at a
:class:`~moderation_lab.reliability.canary.Canary`, so a leak would show up as a count.

Example::

    cases = build_corpus(host, canary_port=canary.port, closed_port=free_port())
    records = [(case.key, case.value) for case in cases]
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from typing import TypeVar

from PIL import Image

from moderation_lab.reliability.hostile_server import HostileServer

__all__ = ["Case", "build_corpus", "hostile_images", "post", "ssrf_hosts"]

CREATED = "2026-11-24T12:00:00Z"
T = TypeVar("T")


@dataclass(frozen=True)
class Case:
    """One record and what must become of it."""

    name: str
    key: bytes
    value: bytes
    dead_letter: str | None = None  # the error kind, when it must be dead-lettered
    images: tuple[str, ...] = ()  # per image URL: "ok" or the error kind

    @property
    def post_id(self) -> str:
        return self.key.decode("utf-8", "replace")


def post(post_id: str, text: str, images: list[str], **extra: object) -> bytes:
    body = {"id": post_id, "text": text, "image_urls": images, "author_id": "stranger", "created_at": CREATED}
    return json.dumps({**body, **extra}).encode()


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@functools.cache
def hostile_images() -> dict[str, tuple[bytes, str, str]]:
    """``name -> (body, content type, expected outcome)``."""
    noise = Image.effect_noise((96, 96), 60).convert("RGB")
    png, jpeg = _encode(noise, "PNG"), _encode(noise, "JPEG")
    sof = jpeg.index(b"\xff\xc0")
    zero_size_jpeg = jpeg[: sof + 5] + b"\0\0\0\0" + jpeg[sof + 9 :]
    flipped_png = png[:200] + bytes(b ^ 0x5A for b in png[200:400]) + png[400:]
    # 100 M pixels in a few KB: refused from the header, never decoded.
    bomb = _encode(Image.new("1", (10_000, 10_000)), "PNG")
    return {
        "good.png": (png, "image/png", "ok"),
        "good.jpg": (jpeg, "image/jpeg", "ok"),
        "html.png": (b"<html><body>not an image</body></html>" * 50, "image/png", "not_an_image"),
        "svg.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml", "not_an_image"),
        "tiff.png": (_encode(noise, "TIFF"), "image/png", "not_an_image"),
        "empty.png": (b"", "image/png", "not_an_image"),
        "truncated.png": (png[: len(png) // 2], "image/png", "not_an_image"),
        "truncated.jpg": (jpeg[: len(jpeg) * 6 // 10], "image/jpeg", "not_an_image"),
        "corrupt.png": (flipped_png, "image/png", "not_an_image"),
        "corrupt.jpg": (zero_size_jpeg, "image/jpeg", "not_an_image"),
        "bomb.png": (bomb, "image/png", "not_an_image"),
    }


def ssrf_hosts(port: int) -> list[str]:
    """``host:port`` spellings that all reach this machine's loopback on ``port``."""
    return [
        f"127.0.0.1:{port}",
        f"127.1:{port}",
        f"2130706433:{port}",  # decimal
        f"017700000001:{port}",  # octal
        f"0x7f000001:{port}",  # hex
        f"0x7f.1:{port}",  # mixed
        f"0177.0.0x1:{port}",
        f"0177.0.0.1:{port}",  # octal, that httpx itself cannot parse
        f"127.000.000.001:{port}",  # zero-padded, likewise
        f"127.0.0.1.:{port}",  # the DNS root dot
        f"0:{port}",
        f"0.0.0.0:{port}",
        f"localhost:{port}",
        f"localhost.:{port}",
        f"[::1]:{port}",
        f"[0:0:0:0:0:0:0:1]:{port}",
        f"[::]:{port}",
        f"[::ffff:127.0.0.1]:{port}",
        f"[::ffff:7f00:1]:{port}",
    ]


# Non-public addresses that are not on this machine: refused all the same.
_ELSEWHERE = [
    "169.254.169.254",  # cloud metadata
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "[fc00::1]",  # IPv6 unique-local
    "[fe80::1]",  # link-local
    "[64:ff9b::a9fe:a9fe]",  # NAT64 form of 169.254.169.254
    "[::ffff:a9fe:a9fe]",  # IPv4-mapped 169.254.169.254
]


def _chunks(items: list[T], size: int = 4) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _verdict_cases(prefix: str, text: str, urls: list[tuple[str, str]]) -> list[Case]:
    """Posts of up to four ``(url, expected outcome)`` images each."""
    cases = []
    for i, chunk in enumerate(_chunks(urls)):
        post_id = f"{prefix}-{i}"
        body = post(post_id, text, [url for url, _ in chunk])
        cases.append(Case(post_id, post_id.encode(), body, images=tuple(outcome for _, outcome in chunk)))
    return cases


def _ssrf_cases(host: HostileServer, canary_port: int) -> list[Case]:
    spellings = ssrf_hosts(canary_port)
    urls = [f"http://{h}/secret" for h in spellings]
    urls += [f"http://{ip}/latest/meta-data/" for ip in _ELSEWHERE]
    # An allowed host answering with a redirect to a blocked one: checked at every hop.
    urls += [host.url(f"/redirect?to=http://{h}/secret") for h in spellings[::3]]
    return _verdict_cases("ssrf", "look at these", [(url, "blocked_url") for url in urls])


def _image_cases(host: HostileServer, closed_port: int) -> list[Case]:
    named = [(host.add(n, body, ctype), outcome) for n, (body, ctype, outcome) in hostile_images().items()]
    loop = "/redirect?to=/redirect?to=/redirect?to=/redirect?to=/file/good.png"  # one hop too many
    named += [
        (host.url("/status/404"), "http_status"),
        (host.url("/status/500"), "http_status"),
        (host.url("/huge?mb=50&declare=1"), "too_large"),
        (host.url("/huge?mb=50"), "too_large"),
        (host.url("/drip?bytes=600"), "timeout"),
        (host.url(loop), "http_status"),
        (f"http://127.0.0.1:{closed_port}/gone.png", "unreachable"),
    ]
    return _verdict_cases("img", "pictures", named)


def _replace(body: bytes, old: bytes, new: bytes) -> bytes:
    assert old in body
    return body.replace(old, new)


def _invalid_cases(host: HostileServer) -> list[Case]:
    plain = post("x", "t", [])
    many_urls = [host.url(f"/file/{i}.png") for i in range(5000)]
    image_only = post("bad-only", "", [host.url("/status/404"), "http://10.0.0.1/a.png"])
    bad: list[tuple[str, bytes, str]] = [
        ("not-json", b'{"id": "x", "text": ', "invalid_json"),
        ("empty", b"", "invalid_json"),
        ("bad-utf8", b'{"id": "\xff\xfe", "text": "caf\xe9"}', "invalid_json"),
        ("lone-surrogate", post("s", "\ud800", []), "invalid_json"),  # json.dumps escapes it
        ("deep", b"[" * 100_000, "too_deep"),
        ("deep-valid", b'{"id": "d", "text": "t", "n": ' + b"[" * 300 + b"]" * 300 + b"}", "too_deep"),
        ("null", b"null", "schema_violation"),
        ("array", b"[1, 2, 3]", "schema_violation"),
        ("id-int", _replace(plain, b'"id": "x"', b'"id": 7'), "schema_violation"),
        ("text-list", _replace(plain, b'"text": "t"', b'"text": ["t"]'), "schema_violation"),
        ("urls-string", _replace(plain, b'"image_urls": []', b'"image_urls": "u"'), "schema_violation"),
        ("no-id", _replace(plain, b'"id": "x", ', b""), "schema_violation"),
        ("huge-id", post("i" * 10_000, "t", []), "schema_violation"),
        ("id-spaces", post("a b", "t", []), "schema_violation"),
        # Both under Kafka's default 1 MB record limit (the broker would refuse more),
        # the second over the worker's limit in HOSTILE_SETTINGS.
        ("text-200k", post("t-200k", "x" * 200_000, []), "schema_violation"),
        ("over-limit", post("t-big", "x" * 300_000, []), "oversize"),
        ("5000-urls", post("many", "t", many_urls), "schema_violation"),
        ("file-url", post("f", "t", ["file:///etc/passwd"]), "schema_violation"),
        ("gopher-url", post("g", "t", ["gopher://127.0.0.1:25/"]), "schema_violation"),
        ("no-content", post("n", "   ", []), "schema_violation"),
        ("image-only-all-bad", image_only, "no_usable_content"),
    ]
    return [Case(name, f"dlq-{name}".encode(), value, kind) for name, value, kind in bad]


def build_corpus(host: HostileServer, canary_port: int, closed_port: int) -> list[Case]:
    """Every hostile case, plus two ordinary posts that must come through unharmed."""
    body, content_type, _ = hostile_images()["good.png"]
    control = [
        Case("control-text", b"control-text", post("control-text", "an ordinary post", [])),
        Case(
            "control-image",
            b"control-image",
            post("control-image", "a cat", [host.add("ok.png", body, content_type)]),
            images=("ok",),
        ),
    ]
    return _invalid_cases(host) + _ssrf_cases(host, canary_port) + _image_cases(host, closed_port) + control
