"""``moderation-worker explain`` finds its post in Kafka: by source coordinates, or a replay's verdict."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from moderation_lab.embedded.kafka_io import create_topics, produce

from worker.config.settings import Settings
from worker.explain.source import PostNotFound, coordinates_in_replay, post_at
from worker.messages import SourceCoordinates

pytestmark = pytest.mark.integration


def test_posts_are_read_at_their_source_coordinates(broker_url: str, tmp_path: Path) -> None:
    topic = "explain-posts"
    posts = [
        {"id": f"p{i}", "author_id": "a", "created_at": "2026-11-20T12:00:00Z", "text": f"post {i} 🙂"}
        for i in range(3)
    ]
    asyncio.run(create_topics(broker_url, [topic], partitions=1))
    [*_, (partition, offset)] = asyncio.run(
        produce(broker_url, topic, [(None, json.dumps(p).encode()) for p in posts])
    )
    settings = Settings(broker=broker_url)
    where = SourceCoordinates(topic=topic, partition=partition, offset=offset, timestamp_ms=None)
    assert asyncio.run(post_at(settings, where)).text == "post 2 🙂"

    replay = tmp_path / "audit.jsonl"
    verdict = {"post_id": "p2", "source": where.model_dump(mode="json")}
    replay.write_text(json.dumps({"post_id": "p0"}) + "\n" + json.dumps(verdict) + "\n", encoding="utf-8")
    assert coordinates_in_replay(replay, "p2") == where
    with pytest.raises(PostNotFound):
        coordinates_in_replay(replay, "p9")
    beyond = where.model_copy(update={"offset": offset + 5})
    with pytest.raises(PostNotFound):
        asyncio.run(post_at(settings, beyond))
