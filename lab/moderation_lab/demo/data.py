"""Sample posts for the demo and the tests: real tweet pairs when the data folder
exists, a small built-in sample otherwise, plus invalid records on purpose.

Example::

    sample = demo_posts(find_data_dir(), n_posts=40, image_url=server.url)
    for item in sample:
        producer.send("posts", key=item.key, value=item.value)
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["SamplePost", "demo_posts", "find_data_dir", "invalid_records", "post_value", "tweet_pairs"]

BUILT_IN_PAIRS = (
    (
        "City council approves new bike lanes on Main Street, construction starts in May.",
        "Main Street bike lanes were rejected by the city council today.",
    ),
    (
        "Our team shipped the 2.0 release this morning with offline mode!",
        "Version 2.0 is out now and it works offline.",
    ),
    (
        "Heavy snow expected tonight across the northern valleys, roads may close.",
        "Sunny skies and warm weather all week in the valley, enjoy!",
    ),
    (
        "The museum reopens on Saturday after a two-year renovation.",
        "Looking for weekend plans? Try the farmers market downtown.",
    ),
)


@dataclass(frozen=True)
class SamplePost:
    """One record to produce, with what the demo expects of it."""

    key: bytes | None
    value: bytes
    kind: str  # "valid" or "invalid"
    note: str


def find_data_dir(start: Path | None = None) -> Path | None:
    """``../shared/data`` beside the repository, when it holds the tweet pairs."""
    root = start or Path(__file__).resolve().parents[3]
    for candidate in (root / "../shared/data", Path.cwd() / "../shared/data"):
        if (candidate / "multimodal-entailment" / "train_df.csv").exists():
            return candidate.resolve()
    return None


def tweet_pairs(data_dir: Path | None, split: str = "val") -> Iterator[dict[str, str]]:
    """Rows of the multimodal-entailment CSV, or the built-in pairs."""
    if data_dir is not None:
        with open(data_dir / "multimodal-entailment" / f"{split}_df.csv", newline="") as handle:
            yield from csv.DictReader(handle)
        return
    for i, (text_1, text_2) in enumerate(BUILT_IN_PAIRS):
        yield {"id_1": f"builtin-{i}-a", "text_1": text_1, "id_2": f"builtin-{i}-b", "text_2": text_2}


def post_value(post_id: str, text: str, images: list[str], when: datetime, **extra: Any) -> bytes:
    body = {
        "id": post_id,
        "text": text,
        "image_urls": images,
        "author_id": f"author-{zlib.crc32(post_id.encode()) % 97}",
        "created_at": when.isoformat().replace("+00:00", "Z"),
        **extra,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def demo_posts(
    data_dir: Path | None, n_posts: int, image_url: Callable[[str], str], split: str = "val"
) -> list[SamplePost]:
    """About ``n_posts`` valid posts in pairs (the second refers to the first), then the invalid ones."""
    start = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    out: list[SamplePost] = []
    for i, row in enumerate(tweet_pairs(data_dir, split)):
        if len(out) >= n_posts:
            break
        when = start + timedelta(minutes=i)
        first, second = row["id_1"], row["id_2"]
        # Every third pair is text-only, the most common kind of post.
        images_1 = [] if i % 3 == 2 else [image_url(f"/images/{first}.png")]
        images_2 = [] if i % 3 == 2 else [image_url(f"/images/{second}.jpg")]
        if i % 5 == 4:  # an image the host does not have: a per-image error in the verdict
            images_2.append(image_url("/status/404"))
        value = post_value(first, row["text_1"], images_1, when)
        out.append(SamplePost(first.encode(), value, "valid", "post"))
        if i % 2 == 0:  # reference inline
            ref = {"relation": "claim", "id": first, "text": row["text_1"], "image_urls": images_1}
            note = "reference inline"
        else:  # reference by id: the worker has seen the first post
            ref = {"relation": "reply", "id": first}
            note = "reference by id"
        value = post_value(second, row["text_2"], images_2, when + timedelta(seconds=30), reference=ref)
        out.append(SamplePost(second.encode(), value, "valid", note))
    return out + invalid_records()


def invalid_records() -> list[SamplePost]:
    """Records that must end in the dead-letter topic, one per kind of mistake: each is
    unreadable (docs/messages.md); a post with bad image URLs or a long text is not."""
    ok = {"id": "bad", "text": "t", "author_id": "a", "created_at": "2026-11-20T12:00:00Z"}
    cases = [
        (b"{not json", "invalid JSON"),
        (b'{"id": "bad-utf8", "text": "\xff\xfe"}', "invalid UTF-8"),
        (json.dumps({**ok, "id": 42}).encode(), "id is a number"),
        (json.dumps({k: v for k, v in ok.items() if k != "id"}).encode(), "missing id"),
        (json.dumps([ok]).encode(), "a list, not an object"),
        (json.dumps({**ok, "text": 7}).encode(), "text is a number"),
        (
            json.dumps({**ok, "text": "", "image_urls": "https://example.org/a.png"}).encode(),
            "image_urls not a list",
        ),
        (json.dumps({**ok, "text": "", "image_urls": []}).encode(), "neither text nor images"),
        (json.dumps({**ok, "text": " \n\t"}).encode(), "blank text, no images"),
        (json.dumps({**ok, "text": "x" * 120_000}).encode(), "oversize message (over 64 KiB)"),
    ]
    return [SamplePost(b"bad", value, "invalid", note) for value, note in cases]
