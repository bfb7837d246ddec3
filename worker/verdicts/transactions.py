"""Exactly-once: each input partition's answers and its consumed offset in one Kafka transaction.

Under ``MODERATION_PROCESSING_GUARANTEE=exactly_once`` nothing is published as soon as
it is ready. A record's outputs (verdict, flagged copy, shadow verdict or dead letter)
are *staged* when the record is released in offset order (see
:mod:`worker.verdicts.acks`), and the consumer's periodic commit (or a partition that
has ``transaction_max_records`` staged) turns into, per partition: send the staged
outputs of every record below the commit offset, add that offset to the transaction
(``send_offsets_to_transaction``), commit. A read_committed consumer therefore sees a
record's outputs exactly when the group's offset moves past it, and never twice.

One transactional producer per input partition, its ``transactional.id`` derived from
the group and the partition (``<group>-<topic>-<partition>``), as faust-streaming
does: the worker that is assigned a partition initialises that id, which aborts the
open transaction of any earlier owner and fences it, so a worker that was killed, or
stalled and came back (a zombie), can never commit again. (Kafka's newer fencing by
consumer-group generation, KIP-447, needs a client that sends the group metadata with
the offsets; aiokafka sends the group id only.)

Any failure while committing (fenced, a record refused, the broker gone past the
producer's retries) aborts what can be aborted and halts the worker: the offsets were
not committed, so the next owner redoes exactly those records.

Example::

    txn = PartitionTransactions(settings, on_failure=halt)
    await txn.assign([("posts", 0)])
    txn.stage(("posts", 0), offset=7, outputs=[Output("verdicts", b"p1", payload)])
    await txn.commit({("posts", 0): 8})
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from worker.config.credentials import aiokafka_kwargs
from worker.config.settings import Settings
from worker.errors import PublishError
from worker.verdicts.publish import retriable

__all__ = ["Output", "PartitionTransactions", "transactional_id"]

log = logging.getLogger(__name__)

Partition = tuple[str, int]


@dataclass(frozen=True)
class Output:
    """One record to publish inside the input partition's transaction."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)


def transactional_id(group_id: str, partition: Partition) -> str:
    """The id every owner of ``partition`` in ``group_id`` uses, so each fences the last."""
    topic, number = partition
    return f"{group_id}-{topic}-{number}"


ProducerFactory = Callable[[str], Any]


class PartitionTransactions:
    """Transactional producers for the assigned partitions, and what waits to be committed."""

    def __init__(
        self,
        settings: Settings,
        on_failure: Callable[[PublishError], None],
        *,
        new_producer: ProducerFactory | None = None,
        on_full: Callable[[], None] = lambda: None,
    ) -> None:
        """``on_full``: asked for an early commit once a partition has
        ``transaction_max_records`` records staged."""
        self._settings = settings
        self._group = settings.group_id
        self._on_failure = on_failure
        self._on_full = on_full
        self._new_producer = new_producer or self._aiokafka_producer
        self._producers: dict[Partition, Any] = {}
        self._ready: dict[Partition, asyncio.Event] = {}
        self._staged: dict[Partition, deque[tuple[int, list[Output]]]] = {}
        self._lock = asyncio.Lock()
        self.committed_transactions = 0

    def _aiokafka_producer(self, txn_id: str) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            transactional_id=txn_id,
            enable_idempotence=True,
            acks="all",
            **aiokafka_kwargs(self._settings),
        )

    # --- assignment ------------------------------------------------------------------
    async def assign(self, partitions: Iterable[Partition]) -> None:
        """Start a producer for each new partition: this fences its previous owner."""
        async with self._lock:
            for partition in partitions:
                if partition in self._producers:
                    continue
                producer = self._new_producer(transactional_id(self._group, partition))
                await producer.start()  # InitProducerId: aborts and fences the old owner
                await producer.begin_transaction()
                self._producers[partition] = producer
                self._staged.setdefault(partition, deque())
                self._event(partition).set()
            log.info("transactional producers for %d partitions", len(self._producers))

    async def revoke(self, partitions: Iterable[Partition]) -> None:
        """Drop what was never committed (the next owner redoes it) and stop the producers."""
        async with self._lock:
            for partition in partitions:
                self._event(partition).clear()
                staged = self._staged.pop(partition, deque())
                if staged:
                    log.info("%s: %d staged records left to the next owner", partition, len(staged))
                producer = self._producers.pop(partition, None)
                if producer is not None:
                    await _abort_and_stop(producer)

    async def close(self) -> None:
        await self.revoke(list(self._producers))

    def _event(self, partition: Partition) -> asyncio.Event:
        return self._ready.setdefault(partition, asyncio.Event())

    async def wait_ready(self, partition: Partition) -> None:
        """Until ``partition``'s producer is started: faust may hand over records before
        the assignment signal that starts it, and none may be worked on before the
        previous owner is fenced."""
        await self._event(partition).wait()

    # --- staging and committing ---------------------------------------------------------
    def stage(self, partition: Partition, offset: int, outputs: list[Output]) -> None:
        """Record ``offset``'s outputs, in offset order, for its partition's next commit."""
        queue = self._staged.setdefault(partition, deque())
        queue.append((offset, outputs))
        if len(queue) == self._settings.transaction_max_records:
            self._on_full()

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        """Commit, per partition, the staged outputs below its offset with that offset."""
        async with self._lock:
            try:
                for partition, offset in offsets.items():
                    await self._commit_one(partition, offset)
            except (KafkaError, PublishError) as exc:
                error = exc if isinstance(exc, PublishError) else PublishError(repr(exc), retriable(exc))
                await self._fail(error)
                return False
        return True

    async def _commit_one(self, partition: Partition, offset: int) -> None:
        producer = self._producers.get(partition)
        if producer is None:
            raise PublishError(f"{partition} has no transactional producer (not assigned here)", False)
        queue = self._staged[partition]
        pending = []
        while queue and queue[0][0] < offset:
            _, outputs = queue.popleft()
            for out in outputs:
                headers = [(k, v) for k, v in out.headers.items()]
                pending.append(await producer.send(out.topic, out.value, key=out.key, headers=headers))
        await asyncio.gather(*pending)
        await producer.send_offsets_to_transaction({TopicPartition(*partition): offset}, self._group)
        await producer.commit_transaction()
        self.committed_transactions += 1
        await producer.begin_transaction()

    async def _fail(self, error: PublishError) -> None:
        log.critical("exactly-once commit failed, nothing of it is visible: %s", error)
        for producer in self._producers.values():
            await _abort_and_stop(producer)
        self._producers.clear()
        self._staged.clear()
        self._on_failure(error)


async def _abort_and_stop(producer: Any) -> None:
    """Abort the open transaction if the producer still can, then stop it."""
    try:
        await producer.abort_transaction()
    except Exception as exc:  # fenced, or the broker is gone: the coordinator aborts it
        log.info("abort skipped: %r", exc)
    try:
        await producer.stop()
    except Exception as exc:
        log.info("producer stop: %r", exc)
