"""Acknowledge records strictly in offset order, per partition.

Batches finish out of order (a text-only batch overtakes one waiting on images),
but a Kafka commit is a single offset per partition: committing offset 12 says
everything before 12 is done. So a record is handed to the consumer's ``ack``
only when it and every earlier record of its partition are finished; a crash
then re-delivers, never skips, unfinished work (at-least-once).

Example::

    tracker = InOrderAcker()
    ticket = tracker.register(("posts", 0), offset=7, ack=event.ack)
    ...
    tracker.done(ticket)   # acks 7 once everything before it is done
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["InOrderAcker", "Ticket"]


@dataclass(eq=False)
class Ticket:
    """One record in flight."""

    partition: Hashable
    offset: int
    ack: Callable[[], object]
    finished: bool = field(default=False)
    #: What the record published, when it is published with its offset (exactly-once).
    outputs: list[Any] = field(default_factory=list)


class InOrderAcker:
    """Releases acks per partition in the order the records were registered."""

    def __init__(self, on_release: Callable[[Ticket], object] | None = None) -> None:
        """``on_release``: called with each ticket, in order, just before its ack."""
        self._on_release = on_release
        self._queues: dict[Hashable, deque[Ticket]] = {}
        #: The last offset acked per partition (for consumer lag).
        self.last_acked: dict[Hashable, int] = {}

    def register(self, partition: Hashable, offset: int, ack: Callable[[], object]) -> Ticket:
        ticket = Ticket(partition, offset, ack)
        self._queues.setdefault(partition, deque()).append(ticket)
        return ticket

    def done(self, ticket: Ticket) -> int:
        """Mark ``ticket`` finished; ack every finished record at the head. Returns acks made."""
        ticket.finished = True
        queue = self._queues.get(ticket.partition)
        acked = 0
        while queue and queue[0].finished:
            head = queue.popleft()
            if self._on_release is not None:
                self._on_release(head)
            head.ack()
            self.last_acked[head.partition] = head.offset
            acked += 1
        if queue is not None and not queue:
            del self._queues[ticket.partition]
        return acked

    @property
    def pending(self) -> int:
        """Records registered but not yet acked."""
        return sum(len(queue) for queue in self._queues.values())
