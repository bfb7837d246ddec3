"""Verdicts with their processing times taken out, to compare two runs byte for byte.

A replay of the same range with the same model and settings must give the same
verdicts except where they record when and how fast the work was done:
``timings``, ``produced_at`` (``failed_at`` for dead letters) and each image's
``fetch_ms``. :func:`canonical` drops exactly those and serialises the rest with
sorted keys, so equal verdicts give equal bytes.

Example::

    assert canonical_lines(Path("a.jsonl")) == canonical_lines(Path("b.jsonl"))
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["VOLATILE", "canonical", "canonical_lines"]

#: Top-level fields that record processing, not the decision.
VOLATILE = ("timings", "produced_at", "failed_at")
#: Fields of each image outcome that record processing.
VOLATILE_IMAGE = ("fetch_ms",)


def canonical(message: bytes | str | dict[str, Any]) -> bytes:
    """The message without processing times, as compact JSON with sorted keys."""
    document = dict(json.loads(message)) if isinstance(message, bytes | str) else dict(message)
    for name in VOLATILE:
        document.pop(name, None)
    if isinstance(document.get("images"), list):
        document["images"] = [
            {k: v for k, v in image.items() if k not in VOLATILE_IMAGE} for image in document["images"]
        ]
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def canonical_lines(path: Path) -> list[bytes]:
    """:func:`canonical` of every line of a JSONL file, in file order."""
    with path.open("rb") as handle:
        return [canonical(line) for line in handle if line.strip()]
