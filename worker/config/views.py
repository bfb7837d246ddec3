"""Typed views of the settings: each component receives only what it reads.

The environment is read once, into :class:`~worker.config.settings.Settings`; a
view copies the fields one component needs, under the same names, so a reader
sees at the constructor what the component depends on and a test can build one
without the other seventy fields.

Example::

    fetcher = ImageFetcher(settings.fetch)
    FetchConfig(fetch_total_timeout_s=1.0)     # a test's own, defaults elsewhere
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from worker.config.settings import Settings

__all__ = ["ExplainConfig", "FetchConfig", "view_of"]

V = TypeVar("V")


@dataclasses.dataclass(frozen=True, slots=True)
class FetchConfig:
    """What the image fetcher reads: deadlines, size caps, concurrency, the address policy."""

    fetch_connect_timeout_s: float = 2.0
    fetch_read_timeout_s: float = 5.0
    fetch_total_timeout_s: float = 10.0
    fetch_max_bytes: int = 10 * 1024 * 1024
    fetch_concurrency: int = 32
    fetch_per_host: int = 8
    fetch_max_redirects: int = 3
    allow_private_hosts: bool = False
    allow_private_endpoints: tuple[str, ...] = ()
    max_image_pixels: int = 40_000_000
    decode_min_side: int = 224


@dataclasses.dataclass(frozen=True, slots=True)
class ExplainConfig:
    """What the explanation stage reads: which categories, how many spans, their cost bounds."""

    explain_categories: Literal["flagged", "scored", "off"] = "flagged"
    explain_span_text: bool = False
    explain_top_k: int = 5
    explain_max_words: int = 48
    explain_image_grid: int = 4
    explain_max_batch: int = 64


def view_of(cls: type[V], settings: Settings) -> V:
    """``cls`` filled from the settings fields of the same names."""
    values: dict[str, Any] = {f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**values)
