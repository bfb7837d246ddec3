"""Images for training: read from local files or fetched as the live worker fetches them.

An image that cannot be had is *masked*, exactly as in the live worker: the post
then counts as text-only. A local file (``image_1_path`` columns) is tried first;
then the URL, through :class:`~worker.fetch.client.ImageFetcher` with the worker's URL
policy, timeouts and size caps. A host that fails ``_GIVE_UP_AFTER`` times in a
row without one success (DNS failure, refused connection, timeouts) is given up
for the rest of the run, so an unreachable image host costs seconds, not one
timeout per image.

Example::

    found = load_images(refs, settings)
    found.images["http://host/a.jpg"].content_sha256
    found.summary()   # "0/2394 images usable (2394 unreachable; masked ...) ..."
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from PIL import Image

from worker.config.settings import Settings
from worker.errors import FetchError
from worker.fetch.client import ImageFetcher
from worker.fetch.decode import decode_image
from worker.training.data import ImageRef

__all__ = ["FoundImages", "LoadedImage", "load_images"]

_GIVE_UP_AFTER = 8


@dataclass(frozen=True, slots=True)
class LoadedImage:
    content_sha256: str
    image: Image.Image


@dataclass
class FoundImages:
    """Images by :attr:`ImageRef.key`, and why the others are masked."""

    images: dict[str, LoadedImage] = field(default_factory=dict)
    failures: Counter[str] = field(default_factory=Counter)
    hosts_given_up: set[str] = field(default_factory=set)

    @property
    def wanted(self) -> int:
        return len(self.images) + self.failures.total()

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {why}" for why, n in self.failures.most_common())
        text = f"{len(self.images)}/{self.wanted} images usable"
        if reasons:
            text += f" ({reasons}; masked as in the live worker)"
        if self.hosts_given_up:
            text += f"; gave up on {', '.join(sorted(self.hosts_given_up))}"
        if self.wanted and not self.images:
            text += ": no image usable, TEXT ONLY"
        return text


def load_images(refs: Iterable[ImageRef], settings: Settings, *, fetch: bool = True) -> FoundImages:
    """Every distinct non-empty reference resolved to an image, or counted as masked."""
    unique = {ref.key: ref for ref in refs if not ref.empty}
    found = FoundImages()
    remote = []
    for key, ref in unique.items():
        if ref.path is not None:
            _read_file(key, ref, settings, found)
        elif not fetch:
            found.failures["not fetched (--no-images)"] += 1
        else:
            remote.append(ref)
    if remote:
        asyncio.run(_fetch_all(remote, settings, found))
    return found


def _read_file(key: str, ref: ImageRef, settings: Settings, found: FoundImages) -> None:
    assert ref.path is not None
    try:
        content = ref.path.read_bytes()
        decoded = decode_image(content, settings.max_image_pixels, settings.decode_min_side)
    except (OSError, FetchError) as exc:
        found.failures[f"unreadable file ({type(exc).__name__})"] += 1
        return
    found.images[key] = LoadedImage(hashlib.sha256(content).hexdigest(), decoded.image)


async def _fetch_all(refs: list[ImageRef], settings: Settings, found: FoundImages) -> None:
    failures_in_a_row: Counter[str] = Counter()
    succeeded: set[str] = set()

    async def one(fetcher: ImageFetcher, ref: ImageRef) -> None:
        host = urlsplit(ref.url).hostname or ""
        if host in found.hosts_given_up:
            found.failures["unreachable"] += 1
            return
        try:
            fetched = await fetcher.fetch(ref.url)
        except FetchError as exc:
            found.failures[exc.kind.replace("_", " ")] += 1
            # Only failures that say "the host cannot be reached now" count toward giving up.
            failures_in_a_row[host] = failures_in_a_row[host] + 1 if exc.retriable else 0
            if failures_in_a_row[host] >= _GIVE_UP_AFTER and host not in succeeded:
                found.hosts_given_up.add(host)
            return
        succeeded.add(host)
        failures_in_a_row[host] = 0
        found.images[ref.key] = LoadedImage(fetched.content_sha256, fetched.image)

    async with ImageFetcher(settings.fetch) as fetcher:
        # In waves, so that a host given up on stops being asked at once.
        wave = max(1, settings.fetch_per_host)
        for start in range(0, len(refs), wave):
            await asyncio.gather(*(one(fetcher, ref) for ref in refs[start : start + wave]))
