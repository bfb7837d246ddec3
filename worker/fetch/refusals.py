"""Which of a post's image URLs are fetched at all, decided before any request.

A post is moderated whatever its image URLs hold: an URL of another scheme than http(s)
(``file:``, ``data:``, ``javascript:``, ``gopher:``...), one that is not an URL, or one
beyond the first :data:`~worker.messages.MAX_IMAGES` fetchable URLs is never fetched, and
its verdict says so (``images[].status: refused``) while the text and the other images are
scored. The address policy (:mod:`worker.fetch.url_policy`) still judges every URL that is
fetched.

Example::

    refused = refuse_urls(["javascript:alert(1)", "https://cdn.example/a.png"])
    refused[0].kind            # 'unsupported_scheme'; index 1 is absent: it is fetched
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from worker.errors import MalformedURL, OverImageLimit, RefusedURL, UnsupportedScheme
from worker.fetch.url_policy import ALLOWED_SCHEMES
from worker.messages import MAX_IMAGES

__all__ = ["MAX_URL_CHARS", "refuse_urls", "shown_url"]

#: Longest URL fetched, and shown whole in a verdict.
MAX_URL_CHARS = 2048
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HTTP_URL = re.compile(r"^[hH][tT][tT][pP][sS]?://[^\s/?#]+\S*$")


def refuse_urls(urls: Sequence[str], limit: int = MAX_IMAGES) -> dict[int, RefusedURL]:
    """Index -> why, for each URL of ``urls`` that is not to be fetched.

    The first ``limit`` URLs that pass are fetched, so URLs that cannot be fetched never
    push a real image out of moderation.
    """
    refused: dict[int, RefusedURL] = {}
    kept = 0
    for index, url in enumerate(urls):
        reason = _reason(url)
        if reason is None and kept >= limit:
            reason = OverImageLimit(f"image URL {index + 1} of {len(urls)}: only {limit} images are fetched")
        if reason is None:
            kept += 1
        else:
            refused[index] = reason
    return refused


def _reason(url: str) -> RefusedURL | None:
    scheme = _SCHEME.match(url)
    if scheme is None:
        return MalformedURL(f"not an URL (no scheme): {_quoted(url)}")
    if scheme.group(1).lower() not in ALLOWED_SCHEMES:
        return UnsupportedScheme(f"scheme {scheme.group(1)!r} is not fetched (only http and https)")
    if len(url) > MAX_URL_CHARS:
        return MalformedURL(f"URL of {len(url)} characters, over the limit of {MAX_URL_CHARS}")
    if _HTTP_URL.fullmatch(url) is None:
        return MalformedURL(f"not a valid http(s) URL: {_quoted(url)}")
    return None


def _quoted(url: str) -> str:
    return repr(url if len(url) <= 80 else url[:80] + "...")


def shown_url(url: str) -> str:
    """The URL as a verdict shows it: whole up to :data:`MAX_URL_CHARS`, else cut and marked."""
    return url if len(url) <= MAX_URL_CHARS else url[: MAX_URL_CHARS - 1] + "\u2026"
