"""Where replay and compare read Kafka: one topic, partitions assigned by hand.

The consumer has no group (``group_id=None``): it never joins the live workers' group,
never takes a partition from them and never commits an offset. The end of the log is
the high-water mark from fetch responses (``consumer.highwater``), not
ListOffsets(latest), which some brokers answer wrongly (the embedded test broker
among them). Every aiokafka error becomes a :class:`ReplayError` here.

Example::

    async with KafkaLog(settings, "posts") as log:
        plan = await plan_ranges(log, request)
        async for record in log.records(plan.ranges):
            ...
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from worker.audit.errors import ReplayError
from worker.audit.replay.merge import TimeOrderedMerge
from worker.audit.replay.ranges import PartitionRange, Probed
from worker.config.credentials import aiokafka_kwargs
from worker.config.settings import Settings
from worker.consume.intake import InputRecord

__all__ = ["KafkaLog", "kafka_errors"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def kafka_errors(what: str) -> Iterator[None]:
    try:
        yield
    except KafkaError as exc:
        raise ReplayError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def _order(record: InputRecord) -> tuple[int, int, int]:
    ts = record.timestamp_ms if record.timestamp_ms is not None else -1
    return ts, record.partition, record.offset


class KafkaLog:
    """Reads one topic by offset, outside any consumer group."""

    def __init__(self, settings: Settings, topic: str, *, stall_timeout_s: float = 30.0) -> None:
        self.topic = topic
        self.stall_timeout_s = stall_timeout_s
        self._consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",  # never jump silently to another offset
            **aiokafka_kwargs(settings),
        )
        self._high: dict[int, int] = {}

    async def __aenter__(self) -> KafkaLog:
        with kafka_errors(f"connecting to Kafka for {self.topic!r}"):
            await self._consumer.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    async def partitions(self) -> list[int]:
        with kafka_errors(f"reading metadata of {self.topic!r}"):
            await self._consumer.topics()  # refreshes the metadata
            found = self._consumer.partitions_for_topic(self.topic)
        if not found:
            raise ReplayError(f"topic {self.topic!r} does not exist")
        return sorted(found)

    async def bounds(self, partitions: Sequence[int]) -> dict[int, tuple[int, int]]:
        tps = [self._tp(p) for p in partitions]
        with kafka_errors(f"reading the offsets of {self.topic!r}"):
            self._consumer.assign(tps)
            lows = await self._consumer.beginning_offsets(tps)
            for tp in tps:
                self._consumer.seek(tp, lows[tp])
            deadline = time.monotonic() + self.stall_timeout_s
            while any(self._consumer.highwater(tp) is None for tp in tps):
                if time.monotonic() > deadline:
                    raise ReplayError(f"no fetch response for {self.topic!r} in {self.stall_timeout_s:.0f}s")
                await self._consumer.getmany(*tps, timeout_ms=100, max_records=1)
            self._consumer.pause(*tps)
        self._high = {tp.partition: int(self._consumer.highwater(tp)) for tp in tps}
        return {tp.partition: (int(lows[tp]), self._high[tp.partition]) for tp in tps}

    async def read_at(self, partition: int, offset: int) -> Probed | None:
        high = self._high[partition]  # bounds() first
        if offset >= high:
            return None
        tp = self._tp(partition)
        deadline = time.monotonic() + self.stall_timeout_s
        with kafka_errors(f"reading {self.topic}[{partition}]@{offset}"):
            self._consumer.seek(tp, offset)
            self._consumer.resume(tp)
            try:
                while time.monotonic() < deadline:
                    batch = await self._consumer.getmany(tp, timeout_ms=200, max_records=1)
                    if batch.get(tp):
                        found = batch[tp][0]
                        return Probed(found.offset, found.timestamp if found.timestamp is not None else -1)
                    if await self._consumer.position(tp) >= high:
                        return None  # only gaps between offset and the end
            finally:
                self._consumer.pause(tp)
        raise ReplayError(f"{self.topic}[{partition}]@{offset}: no record within {self.stall_timeout_s:.0f}s")

    async def broker_offsets_for_time(self, partitions: Sequence[int], t_ms: int) -> dict[int, int | None]:
        try:
            found = await self._consumer.offsets_for_times({self._tp(p): t_ms for p in partitions})
        except KafkaError as exc:  # some brokers do not implement it: search instead
            log.info("offsets_for_times unavailable (%s); searching by bisection", exc)
            return {}
        return {
            tp.partition: (None if answer is None else int(answer.offset)) for tp, answer in found.items()
        }

    async def records(self, ranges: Sequence[PartitionRange]) -> AsyncIterator[InputRecord]:
        """Every record in ``ranges``, ordered by (timestamp, partition, offset)."""
        live = [r for r in ranges if r.size > 0]
        ends = {r.partition: r.end for r in live}
        merge: TimeOrderedMerge[InputRecord] = TimeOrderedMerge(ends, key=_order)
        for r in live:
            self._consumer.seek(self._tp(r.partition), r.start)
        while not merge.done:
            for record in merge.pop_ready():
                yield record
            if not merge.done:
                await self._fill(merge, ends)

    async def _fill(self, merge: TimeOrderedMerge[InputRecord], ends: dict[int, int]) -> None:
        """Fetch until every open partition has a record waiting (or is finished)."""
        deadline = time.monotonic() + self.stall_timeout_s
        while wanted := [self._tp(p) for p in merge.wanted()]:
            if time.monotonic() > deadline:
                where = ", ".join(f"{tp.partition}" for tp in wanted)
                raise ReplayError(
                    f"{self.topic!r} partitions {where} delivered nothing for {self.stall_timeout_s:.0f}s"
                )
            with kafka_errors(f"reading {self.topic!r}"):
                self._consumer.resume(*wanted)
                try:
                    batch = await self._consumer.getmany(*wanted, timeout_ms=500)
                finally:
                    self._consumer.pause(*wanted)
                for tp, messages in batch.items():
                    self._push(merge, tp.partition, messages, ends[tp.partition])
                for tp in wanted:
                    if not batch.get(tp) and await self._consumer.position(tp) >= ends[tp.partition]:
                        merge.close(tp.partition)  # only gaps before the end

    def _push(
        self, merge: TimeOrderedMerge[InputRecord], partition: int, messages: list[Any], end: int
    ) -> None:
        for m in messages:
            if m.offset >= end:
                merge.close(partition)
                return
            timestamp = m.timestamp if m.timestamp is not None and m.timestamp >= 0 else None
            merge.push(
                partition, InputRecord(self.topic, partition, m.offset, timestamp, m.key, m.value or b"")
            )
            if m.offset == end - 1:
                merge.close(partition)
                return
