"""Where unprocessable records become dead letters that keep their original bytes.

Example::

    letter = build_dead_letter(record, exc, keep_bytes=262_144, now=utcnow())
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from worker.consume.intake import InputRecord
from worker.messages import DeadLetter, OriginalRecord
from worker.verdicts.build import error_info

__all__ = ["build_dead_letter", "guess_post_id"]


def guess_post_id(record: InputRecord) -> str | None:
    """The post id, from the key or from the JSON, if either can be read."""
    if record.key:
        try:
            return record.key.decode("utf-8")[:128]
        except UnicodeDecodeError:
            pass
    try:
        value = json.loads(record.value)
    except (ValueError, RecursionError):
        return None
    post_id = value.get("id") if isinstance(value, dict) else None
    return post_id[:128] if isinstance(post_id, str) else None


def build_dead_letter(record: InputRecord, exc: BaseException, keep_bytes: int, now: datetime) -> DeadLetter:
    value = record.value
    kept = value[:keep_bytes]
    original = OriginalRecord(
        key_b64=base64.b64encode(record.key).decode() if record.key is not None else None,
        value_b64=base64.b64encode(kept).decode(),
        value_bytes=len(value),
        value_sha256=hashlib.sha256(value).hexdigest(),
        truncated=len(kept) < len(value),
    )
    return DeadLetter(
        post_id=guess_post_id(record),
        error=error_info(exc),
        source=record.source,
        original=original,
        failed_at=now,
    )
