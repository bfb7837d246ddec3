"""The benchmark's posts: real tweet pairs (or the built-in sample) with distinct
generated photos, served by the local image server, plus streams with repeats.

Example::

    corpus = BenchCorpus.load(find_data_dir())
    posts = corpus.posts(200, prefix="cold", image_url=server.url, with_images=True)
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from moderation_lab.demo.data import tweet_pairs

__all__ = ["BenchCorpus", "BenchPost", "photo", "tagged"]

IMAGE_SIZE = (1024, 576)  # a common size of images attached to tweets


def tagged(jpeg: bytes, tag: int) -> bytes:
    """The same picture with a different JPEG comment: distinct bytes (so a distinct
    cache key), identical decoding cost, generated in microseconds."""
    payload = f"bench image {tag}".encode()
    segment = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def photo(seed: int) -> bytes:
    """A distinct JPEG per seed, with enough structure to compress like a photo."""
    rng = random.Random(seed)
    image = Image.new("RGB", IMAGE_SIZE, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(IMAGE_SIZE[0]), rng.randrange(IMAGE_SIZE[1])
        w, h = rng.randrange(20, 300), rng.randrange(20, 200)
        draw.ellipse((x, y, x + w, y + h), fill=tuple(rng.randrange(256) for _ in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@dataclass(frozen=True)
class BenchPost:
    id: str
    text: str
    image_path: str | None  # path on the image server
    reference: tuple[str, str, str | None] | None  # (id, text, image path) inline

    def to_json(self, image_url: Callable[[str], str]) -> bytes:
        body: dict[str, object] = {
            "id": self.id,
            "text": self.text,
            "image_urls": [image_url(self.image_path)] if self.image_path else [],
            "author_id": "bench",
            "created_at": "2026-11-24T12:00:00Z",
        }
        if self.reference is not None:
            ref_id, ref_text, ref_image = self.reference
            body["reference"] = {
                "relation": "claim",
                "id": ref_id,
                "text": ref_text,
                "image_urls": [image_url(ref_image)] if ref_image else [],
            }
        return json.dumps(body).encode()


class BenchCorpus:
    """Tweet pairs to draw posts from; every post gets images of its own."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        # The data repeats some tweets word for word in several pairs: keep a pair only when
        # both its texts are new, so that no text comes twice in a stream (a repeated text is
        # served from the cache, and a cold stream must not be).
        seen: set[str] = set()
        self.pairs = []
        for first, second in pairs:
            if first != second and first not in seen and second not in seen:
                self.pairs.append((first, second))
                seen.update((first, second))
        self._next_image = 0

    @classmethod
    def load(cls, data_dir: Path | None) -> BenchCorpus:
        rows = list(tweet_pairs(data_dir, "train")) if data_dir else list(tweet_pairs(None))
        return cls([(row["text_1"], row["text_2"]) for row in rows])

    @property
    def texts(self) -> list[str]:
        return [t for pair in self.pairs for t in pair]

    def _image(self) -> str:
        self._next_image += 1
        return f"/bench/{self._next_image}.jpg"

    def posts(self, n: int, prefix: str, with_images: bool, start: int = 0) -> list[BenchPost]:
        """``n`` posts; every other one makes a claim about another tweet, given inline.
        No text repeats inside a stream, so with a cold cache every text is encoded.
        Streams from distinct ``start`` ranges share no text: once the pairs run out they
        are used again with a lap number appended (a token or two), never verbatim."""
        out = []
        for i in range(n):
            lap, index = divmod(start + i, len(self.pairs))
            first, second = self.pairs[index]
            if lap:
                first, second = f"{first} {lap}", f"{second} {lap}"
            if i % 2 == 0:
                out.append(BenchPost(f"{prefix}-{i}", first, self._image() if with_images else None, None))
            else:
                ref_image = self._image() if with_images else None
                reference = (f"{prefix}-{i}-ref", first, ref_image)
                out.append(
                    BenchPost(f"{prefix}-{i}", second, self._image() if with_images else None, reference)
                )
        return out

    @staticmethod
    def image_paths(posts: list[BenchPost]) -> list[str]:
        paths = [p.image_path for p in posts if p.image_path]
        paths += [p.reference[2] for p in posts if p.reference and p.reference[2]]
        return paths
