"""The hostile corpus: records a stranger could write, each with the outcome it must get.

Every case ends as a dead letter of a given kind, or as a verdict whose images
each carry the expected status ("ok") or error kind. Blocked URLs point at a
:class:`~moderation_lab.reliability.canary.Canary`, so a leak would show up as a count.
Only unreadable records are dead letters (docs/messages.md, "Readable"): a post with
forbidden or too many image URLs, or a long text, gets a verdict with its text scored.

Example::

    cases = build_corpus(host, canary_port=canary.port, closed_port=free_port())
    records = [(case.key, case.value) for case in cases]
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass, replace
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
    images: tuple[str, ...] = ()  # per image listed in the verdict: "ok" or the error kind
    #: Modalities the verdict must have scored ("text" for a post whose text must be read).
    modalities: tuple[str, ...] = ()
    #: Entries the verdict's ``degraded`` must hold.
    degraded: tuple[str, ...] = ()

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


def _readable_cases(host: HostileServer) -> list[Case]:
    """Posts with something the worker will not use: moderated all the same, and the verdict
    says what was left out."""
    body, content_type, _ = hostile_images()["good.png"]
    good = host.add("readable.png", body, content_type)
    many_urls = [host.url(f"/file/{i}.png") for i in range(5000)]
    refused = [
        ("javascript-url", "javascript:alert(document.cookie)", "unsupported_scheme"),
        ("file-url", "file:///etc/passwd", "unsupported_scheme"),
        ("gopher-url", "gopher://127.0.0.1:25/", "unsupported_scheme"),
        ("ftp-url", "ftp://example.org/a.png", "unsupported_scheme"),
        ("dict-url", "dict://127.0.0.1:11211/stat", "unsupported_scheme"),
        ("data-url", "data:image/png;base64,iVBORw0KGgo=", "unsupported_scheme"),
        ("no-scheme-url", "//example.org/a.png", "malformed_url"),
        ("spaced-url", "https://exa mple.org/a.png", "malformed_url"),
    ]
    cases = [
        Case(name, name.encode(), post(name, "a hateful text", [url, good]), images=(kind, "ok"))
        for name, url, kind in refused
    ]
    text = ("text", "image")
    listed = ("http_status",) * 4 + ("over_image_limit",) * 28
    limit = ("over_image_limit", "over_image_limit")
    return [
        *(replace(case, modalities=text, degraded=(f"image:0:{case.images[0]}",)) for case in cases),
        Case(
            "six-urls",
            b"six-urls",
            post("six-urls", "t", [good] * 6),
            images=("ok",) * 4 + limit,
            modalities=text,
            degraded=("image:4:over_image_limit", "image:5:over_image_limit"),
        ),
        Case(
            "5000-urls",
            b"5000-urls",
            post("5000-urls", "t", many_urls),
            images=listed,
            modalities=("text",),
            degraded=("image:0:http_status",),
        ),
        Case(
            "text-200k",
            b"text-200k",
            post("text-200k", "x " * 100_000, []),
            modalities=("text",),
            degraded=("text_beyond_bound",),
        ),
        Case(
            "bad-created-at",
            b"bad-created-at",
            post("bad-created-at", "t", [], created_at="yesterday"),
            modalities=("text",),
            degraded=("field_ignored:created_at",),
        ),
        Case(
            "no-author",
            b"no-author",
            json.dumps({"id": "no-author", "text": "t"}).encode(),
            modalities=("text",),
        ),
        Case(
            "404-image",
            b"404-image",
            post("404-image", "t", [host.url("/status/404")]),
            images=("http_status",),
            modalities=("text",),
            degraded=("image:0:http_status",),
        ),
    ]


def _invalid_cases(host: HostileServer) -> list[Case]:
    plain = post("x", "t", [])
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
        # Under Kafka's default 1 MB record limit (the broker would refuse more), over the
        # worker's limit in HOSTILE_SETTINGS.
        ("over-limit", post("t-big", "x" * 300_000, []), "oversize"),
        ("no-content", post("n", "   ", []), "schema_violation"),
        ("url-number", _replace(post("u", "", ["x"]), b'["x"]', b"[7]"), "schema_violation"),
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
    hostile = _invalid_cases(host) + _readable_cases(host)
    return hostile + _ssrf_cases(host, canary_port) + _image_cases(host, closed_port) + control
