"""Exactly-once bookkeeping without a broker: what goes into which transaction, in what order."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import ProducerFenced

from worker.config.settings import Settings
from worker.errors import PublishError
from worker.verdicts.acks import InOrderAcker
from worker.verdicts.transactions import Output, PartitionTransactions, transactional_id

SETTINGS = Settings(group_id="g", transaction_max_records=3)
P0, P1 = ("posts", 0), ("posts", 1)


class FakeProducer:
    """Records the calls a transactional aiokafka producer would get."""

    def __init__(self, txn_id: str, log: list[tuple[str, ...]], fenced: bool = False) -> None:
        self.txn_id, self.log, self.fenced = txn_id, log, fenced

    async def start(self) -> None:
        self.log.append(("start", self.txn_id))

    async def begin_transaction(self) -> None:
        self.log.append(("begin", self.txn_id))

    async def send(self, topic: str, value: bytes, key: bytes | None = None, headers: Any = None) -> Any:
        self.log.append(("send", self.txn_id, topic, value.decode()))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def send_offsets_to_transaction(self, offsets: dict[Any, int], group_id: str) -> None:
        [offset] = offsets.values()
        self.log.append(("offsets", self.txn_id, str(offset), group_id))

    async def commit_transaction(self) -> None:
        if self.fenced:
            raise ProducerFenced()
        self.log.append(("commit", self.txn_id))

    async def abort_transaction(self) -> None:
        self.log.append(("abort", self.txn_id))

    async def stop(self) -> None:
        self.log.append(("stop", self.txn_id))


def transactions(log: list[tuple[str, ...]], **kwargs: Any) -> PartitionTransactions:
    fenced = kwargs.pop("fenced", False)
    return PartitionTransactions(
        SETTINGS, new_producer=lambda txn_id: FakeProducer(txn_id, log, fenced), **kwargs
    )


def out(value: str) -> list[Output]:
    return [Output("verdicts", b"k", value.encode())]


def test_each_partition_has_the_id_every_owner_uses() -> None:
    assert transactional_id("g", P1) == "g-posts-1"


async def test_outputs_below_the_commit_offset_go_with_it_in_offset_order() -> None:
    log: list[tuple[str, ...]] = []
    txn = transactions(log, on_failure=lambda exc: None)
    await txn.assign([P0, P1])
    acker = InOrderAcker(on_release=lambda t: txn.stage(t.partition, t.offset, out(f"{t.offset}")))  # type: ignore[arg-type]
    tickets = [acker.register(P0, offset, ack=lambda: None) for offset in (5, 6, 7)]
    for ticket in reversed(tickets):  # finished out of order, staged in order
        acker.done(ticket)
    log.clear()
    assert await txn.commit({P0: 7}) is True  # 7 was not yet past the commit
    assert log == [
        ("send", "g-posts-0", "verdicts", "5"),
        ("send", "g-posts-0", "verdicts", "6"),
        ("offsets", "g-posts-0", "7", "g"),
        ("commit", "g-posts-0"),
        ("begin", "g-posts-0"),
    ]
    log.clear()
    await txn.commit({P0: 8})
    assert log[0] == ("send", "g-posts-0", "verdicts", "7") and txn.committed_transactions == 2


async def test_a_full_partition_asks_for_an_early_commit() -> None:
    asked: list[bool] = []
    txn = transactions([], on_failure=lambda exc: None, on_full=lambda: asked.append(True))
    await txn.assign([P0])
    for offset in range(3):
        txn.stage(P0, offset, out("x"))
    assert asked == [True]


async def test_a_fenced_commit_aborts_and_reports_and_later_records_wait() -> None:
    log: list[tuple[str, ...]] = []
    failures: list[PublishError] = []
    txn = transactions(log, on_failure=failures.append, fenced=True)
    await txn.assign([P0])
    txn.stage(P0, 0, out("a"))
    assert await txn.commit({P0: 1}) is False
    assert len(failures) == 1 and "ProducerFenced" in str(failures[0])
    assert ("abort", "g-posts-0") in log and ("stop", "g-posts-0") in log


async def test_records_of_a_partition_wait_until_its_producer_fenced_the_last_owner() -> None:
    txn = transactions([], on_failure=lambda exc: None)
    waiting = asyncio.create_task(txn.wait_ready(P0))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await txn.assign([P0])
    await asyncio.wait_for(waiting, 1)
    await txn.revoke([P0])
    again = asyncio.create_task(txn.wait_ready(P0))
    await asyncio.sleep(0.01)
    assert not again.done()
    again.cancel()
