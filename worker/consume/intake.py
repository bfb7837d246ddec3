"""Where raw Kafka records become validated posts, or a clear reason why not.

Example::

    record = InputRecord(topic="posts", partition=0, offset=7, timestamp_ms=None,
                         key=b"p1", value=raw)
    read = read_post(record.value, max_bytes=1_048_576)   # raises InvalidPost when unreadable
    read.post, read.ignored                                # ignored: malformed optional fields
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from worker.errors import InvalidJSON, OversizeMessage, SchemaViolation, TooDeeplyNested
from worker.messages import OPTIONAL_POST_FIELDS, Post, SourceCoordinates

__all__ = ["JSON_MAX_DEPTH", "OPTIONAL_FIELDS", "InputRecord", "ReadPost", "parse_post", "read_post"]

#: Fields a post can be moderated without: when one is malformed it is ignored, and the
#: verdict says so (``degraded: field_ignored:NAME``), rather than the post going unread.
OPTIONAL_FIELDS = OPTIONAL_POST_FIELDS

_MAX_REPORTED_ERRORS = 5
#: pydantic's JSON parser stops at this nesting depth. Kept: no post comes anywhere
#: near it, and it bounds the parser's stack on hostile input.
JSON_MAX_DEPTH = 200
_DEPTH_ERROR = "recursion limit exceeded"


@dataclass(frozen=True)
class InputRecord:
    """One record as read from the input topic."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes

    @property
    def source(self) -> SourceCoordinates:
        return SourceCoordinates(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            timestamp_ms=self.timestamp_ms,
        )


@dataclass(frozen=True)
class ReadPost:
    """A readable post, and the optional fields dropped because they were malformed."""

    post: Post
    ignored: tuple[str, ...] = ()


def read_post(value: bytes, max_bytes: int) -> ReadPost:
    """Read one record's value as a post if it is readable (docs/messages.md): a JSON
    object in UTF-8 within ``max_bytes``, with a post id and a text or an image URL.

    A malformed optional field (:data:`OPTIONAL_FIELDS`) does not make a post unreadable:
    it is dropped and named in ``ignored``. Raises what :func:`parse_post` raises for
    anything else.
    """
    try:
        return ReadPost(parse_post(value, max_bytes))
    except SchemaViolation as exc:
        cause = exc.__cause__
        if not isinstance(cause, ValidationError):
            raise
        errors = cause.errors()
        bad = {str(error["loc"][0]) for error in errors if error["loc"]}
        if any(not error["loc"] for error in errors) or not bad <= set(OPTIONAL_FIELDS):
            raise  # the post as a whole, or a field it cannot be moderated without
        document = json.loads(value)
        kept = {key: field for key, field in document.items() if key not in bad}
        post = parse_post(json.dumps(kept).encode(), max_bytes=len(value) * 2 + 1024)
        return ReadPost(post, tuple(sorted(bad)))


def parse_post(value: bytes, max_bytes: int) -> Post:
    """Validate one record's value as a post, as the post schema says.

    Raises :class:`OversizeMessage`, :class:`InvalidJSON` (not UTF-8 JSON),
    :class:`TooDeeplyNested` (nested deeper than :data:`JSON_MAX_DEPTH`, not read
    further) or :class:`SchemaViolation` (JSON, but not a post), each with a readable
    message. The worker reads posts with :func:`read_post`, which forgives malformed
    optional fields.
    """
    if len(value) > max_bytes:
        raise OversizeMessage(f"message of {len(value)} bytes exceeds the limit of {max_bytes}")
    try:
        post = Post.model_validate_json(value)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(_DEPTH_ERROR in error["msg"] for error in errors):
            # Whether the rest would parse is unknown: the parser stopped there.
            where = errors[0]["msg"].rsplit(_DEPTH_ERROR, 1)[-1].strip()
            raise TooDeeplyNested(
                f"JSON nested deeper than {JSON_MAX_DEPTH} levels ({where}); not read further"
            ) from exc
        if any(error["type"] in {"json_invalid", "json_type"} for error in errors):
            raise InvalidJSON(f"not valid UTF-8 JSON: {errors[0]['msg']}") from exc
        raise SchemaViolation(_describe(errors)) from exc
    except UnicodeDecodeError as exc:
        raise InvalidJSON(f"not valid UTF-8: {exc.reason} at byte {exc.start}") from exc
    return post


def _describe(errors: list[ErrorDetails]) -> str:
    parts = []
    for error in errors[:_MAX_REPORTED_ERRORS]:
        where = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    more = len(errors) - _MAX_REPORTED_ERRORS
    suffix = f" (and {more} more)" if more > 0 else ""
    return "; ".join(parts) + suffix
