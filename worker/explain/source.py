"""Where ``moderation-worker explain`` finds a post: the command line, a file, or Kafka.

- a text given on the command line (a post with that text and no image);
- a JSONL file of posts as producers send them (``--posts``), picked by ``--post-id``;
- a replay's or audit's JSONL of verdicts (``--replay``): the verdict of ``--post-id``
  names its post's source coordinates, read from Kafka as below;
- source coordinates (topic, partition, offset), read outside any consumer group with
  the reader ``replay`` and ``compare`` use (:class:`worker.audit.replay.kafka.KafkaLog`).

Example::

    post = await post_at(settings, SourceCoordinates(topic="posts", partition=0, offset=41,
                                                     timestamp_ms=None))
"""

from __future__ import annotations

import json
from pathlib import Path

from worker.config.settings import Settings
from worker.consume.intake import parse_post
from worker.errors import InvalidPost, ModerationError
from worker.messages import Post, SourceCoordinates

__all__ = ["PostNotFound", "coordinates_in_replay", "post_at", "post_in_file", "post_of_text"]


class PostNotFound(ModerationError):
    """The post asked for is not where the command was told to look."""


def post_of_text(text: str) -> Post:
    return Post(id="command-line", text=text)


def _lines(path: Path) -> list[bytes]:
    try:
        return [line for line in path.read_bytes().splitlines() if line.strip()]
    except OSError as exc:
        raise PostNotFound(f"cannot read {path}: {exc}") from exc


def post_in_file(path: Path, post_id: str | None, max_bytes: int) -> Post:
    """The post ``post_id`` of a JSONL file of posts (the first one without an id)."""
    for n, line in enumerate(_lines(path), start=1):
        try:
            post = parse_post(line, max_bytes)
        except InvalidPost as exc:
            raise PostNotFound(f"{path}:{n}: not a post: {exc}") from exc
        if post_id is None or post.id == post_id:
            return post
    raise PostNotFound(f"no post {post_id!r} in {path}")


def coordinates_in_replay(path: Path, post_id: str) -> SourceCoordinates:
    """The source coordinates the verdict of ``post_id`` records, in a JSONL of verdicts."""
    for line in _lines(path):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and document.get("post_id") == post_id and "source" in document:
            return SourceCoordinates.model_validate(document["source"])
    raise PostNotFound(f"no verdict of post {post_id!r} in {path}")


async def post_at(settings: Settings, where: SourceCoordinates) -> Post:
    """The post at ``where``, read from Kafka outside any consumer group."""
    from worker.audit.replay.kafka import KafkaLog
    from worker.audit.replay.planning import plan_ranges
    from worker.audit.replay.ranges import RangeRequest

    request = RangeRequest(
        partitions=(where.partition,), offsets={where.partition: (where.offset, where.offset + 1)}
    )
    async with KafkaLog(settings, where.topic) as log:
        plan = await plan_ranges(log, request)
        async for record in log.records(plan.ranges):
            if record.offset == where.offset:
                try:
                    return parse_post(record.value, settings.max_message_bytes)
                except InvalidPost as exc:
                    raise PostNotFound(
                        f"{where.topic}[{where.partition}]@{where.offset} is not a post: {exc}"
                    ) from exc
    raise PostNotFound(f"no record at {where.topic}[{where.partition}]@{where.offset}")
