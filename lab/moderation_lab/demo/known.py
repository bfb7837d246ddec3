"""The demo's known-content part: a hash bank holding one generated image, and a post
that reposts a near-duplicate of it (half the size, re-encoded as JPEG).

The bank's one entry is the PDQ hash of a drawing made from a seed
(:mod:`moderation_lab.samples`): no real media, no real hash list.

Example::

    folder = demo_bank(workdir)                      # MODERATION_KNOWN_BANKS for the worker
    post = known_post(stack.images)                  # SamplePost whose image is the copy
    print(known_table(records, "verdicts"))
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

from moderation_lab.demo.data import SamplePost
from moderation_lab.embedded.image_server import ImageServer
from moderation_lab.embedded.kafka_io import Record
from moderation_lab.samples import jpeg_bytes, png_bytes, sample_image
from worker.known.banks import BankSpec, write_manifest
from worker.known.pdq import compute_pdq

__all__ = ["BANK", "demo_bank", "known_post", "known_table"]

BANK = "demo-known"
SEED = 2026


def demo_bank(workdir: Path) -> Path:
    """A banks folder with one bank holding the PDQ hash of the original drawing."""
    folder = workdir / "banks"
    folder.mkdir(parents=True, exist_ok=True)
    digest = compute_pdq(sample_image(SEED)).hex
    (folder / f"{BANK}.txt").write_text(f"# generated demo drawing, seed {SEED}\n{digest}\n")
    write_manifest(folder, [BankSpec(BANK, f"{BANK}.txt", "hex", "generated demo content", "review")])
    return folder


def known_post(images: ImageServer) -> SamplePost:
    """A post whose image is a near-duplicate of the banked drawing, served by the demo."""
    original = sample_image(SEED)
    images.add("/known/original.png", png_bytes(original), "image/png")
    copy = original.resize((original.width // 2, original.height // 2))
    url = images.add("/known/repost.jpg", jpeg_bytes(copy, quality=70), "image/jpeg")
    body = {
        "id": "demo-known-repost",
        "text": "found this old picture again",
        "image_urls": [url],
        "author_id": "author-known",
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return SamplePost(b"demo-known-repost", json.dumps(body).encode(), "valid", "matches a hash bank")


def known_table(records: list[Record], topic: str) -> Table:
    """Every image of the run that matched a bank, with its PDQ hash and distance."""
    table = Table(title="Known content (PDQ hash banks)")
    for column in ("post", "image", "bank", "distance", "category", "action", "PDQ (quality)"):
        table.add_column(column, overflow="fold")
    for record in records:
        if record.topic != topic:
            continue
        verdict = json.loads(record.value)
        for image in verdict["images"]:
            for match in image.get("known_matches") or []:
                pdq = image["pdq"]
                table.add_row(
                    verdict["post_id"],
                    image["url"].rsplit("/", 1)[-1],
                    match["bank"],
                    str(match["distance"]),
                    match["category"],
                    match["action"],
                    f"{pdq['hash'][:16]}… ({pdq['quality']})",
                )
    return table
