"""Consume the worker's verdicts from another service, with a plain Kafka client only.

Nothing of the worker is imported: aiokafka reads ``verdicts`` in a consumer group of
this service's own, and the JSON in each record is the documented verdict schema
(``schemas/verdict.v2.json``; v1 verdicts lack the category fields). Run it against any broker::

    python examples/consume_verdicts.py --broker localhost:9092 --group trust-and-safety --limit 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer

#: Verdict schema versions this consumer understands; a later version still reads as
#: this one where it only adds optional fields, so log it rather than stop.
KNOWN_VERSIONS = {1, 2, 3}


def identity(verdict: dict[str, Any]) -> tuple[str, str, str | None]:
    """What makes a verdict unique: delivery is at-least-once, so the same post may
    arrive twice from the same model; store verdicts keyed on this and a duplicate
    simply overwrites itself."""
    model = verdict["model"]
    return verdict["post_id"], model["weights_sha256"], model.get("settings_sha256")


def handle(verdict: dict[str, Any]) -> None:
    bias, clip = verdict["bias"], verdict.get("clip")
    seen = clip["top_label"] if clip else "-"
    print(
        f"{verdict['post_id']:>20}  {bias['label'] or 'untrained':<9} {bias['score']:.3f}  image: {seen:<12} "
        f"flagged: {'yes' if verdict['flagged'] else 'no':<3}  {'; '.join(verdict['flag_reasons'])}"
    )


async def consume(broker: str, topic: str, group: str, limit: int | None) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker,
        group_id=group,
        auto_offset_reset="earliest",  # a new group starts from the oldest retained verdict
        enable_auto_commit=False,  # commit only what was handled
    )
    await consumer.start()
    store: dict[tuple[str, str, str | None], dict[str, Any]] = {}  # your database, upserting
    handled = 0
    try:
        async for message in consumer:
            verdict = json.loads(message.value)
            if verdict["schema_version"] not in KNOWN_VERSIONS:
                print(f"note: verdict schema v{verdict['schema_version']} is newer than this consumer")
            handle(verdict)
            store[identity(verdict)] = verdict
            await consumer.commit()
            handled += 1
            if limit is not None and handled >= limit:
                break
    finally:
        await consumer.stop()
    print(f"{handled} verdicts read, {len(store)} distinct")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", default="localhost:9092")
    parser.add_argument("--topic", default="verdicts")
    parser.add_argument("--group", default="trust-and-safety")
    parser.add_argument("--limit", type=int, default=None, help="Stop after this many verdicts.")
    args = parser.parse_args()
    asyncio.run(consume(args.broker, args.topic, args.group, args.limit))


if __name__ == "__main__":
    main()
