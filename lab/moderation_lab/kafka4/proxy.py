"""A Kafka-protocol proxy that makes an embedded broker look like Apache Kafka 4.0.

Clients connect to the proxy. It answers ApiVersions itself with Kafka 4.0's ranges
(:data:`~moderation_lab.kafka4.versions.KAFKA_4_0`), so the clients choose their
request versions as they would against a 4.0 broker; it closes the connection on any
request a 4.0 broker would not accept (an unknown API, or a version outside the
range, e.g. Produce v2 or Fetch v3, which KIP-896 removed), logging and recording the
API key and version; and it forwards everything else to the broker unchanged, with
the broker addresses in Metadata and FindCoordinator answers rewritten to its own
(see :mod:`moderation_lab.kafka4.rewrite`) so clients never go around it.

It runs its own event loop in a thread, so synchronous tests and child processes can
use it alike. Requests may be pipelined: answers go back in the order the requests
came, the local ApiVersions answers included.

Example::

    with Kafka4Proxy(broker.url) as proxy:
        settings = Settings(broker=proxy.url)
        ...
    assert proxy.rejections == []
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import threading
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from moderation_lab.errors import ServiceError
from moderation_lab.kafka4.rewrite import names_brokers, rewrite_response
from moderation_lab.kafka4.versions import KAFKA_4_0, ApiRange
from moderation_lab.kafka4.wire import (
    API_VERSIONS,
    PRODUCE,
    RequestHeader,
    WireError,
    api_versions_response,
    frame,
    produce_acks,
)

__all__ = ["Kafka4Proxy", "Rejection"]

log = logging.getLogger(__name__)
_LOOPBACK = "127.0.0.1"
#: A frame larger than this is not a request of these tests (Kafka's default cap is 100 MiB).
_MAX_FRAME = 100 * 1024 * 1024


@dataclass(frozen=True)
class Rejection:
    """A request the proxy refused, as a Kafka 4.0 broker would have."""

    api_key: int
    api_version: int
    name: str
    reason: str


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """One frame's payload, or None when the peer closed the connection."""
    try:
        (size,) = struct.unpack(">i", await reader.readexactly(4))
        if not 0 <= size <= _MAX_FRAME:
            raise WireError(f"frame size {size}")
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class _Connection:
    """One client connection and its own connection to the broker."""

    def __init__(self, proxy: Kafka4Proxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_reader, self.client_writer = client
        self.pending: deque[tuple[RequestHeader, asyncio.Future[bytes]]] = deque()
        self.outbox: asyncio.Queue[asyncio.Future[bytes]] = asyncio.Queue()

    async def run(self) -> None:
        host, port = self.proxy.upstream
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            log.warning("kafka4 proxy: cannot reach the broker %s:%d: %s", host, port, exc)
            self.client_writer.close()
            return
        tasks = [
            asyncio.create_task(self._from_client(up_writer)),
            asyncio.create_task(self._from_broker(up_reader)),
            asyncio.create_task(self._to_client()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for writer in (up_writer, self.client_writer):
                writer.close()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _ready(self, answer: bytes) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        future.set_result(answer)
        return future

    async def _from_client(self, up_writer: asyncio.StreamWriter) -> None:
        while (payload := await _read_frame(self.client_reader)) is not None:
            header = RequestHeader.parse(payload)
            if not self.proxy.admit(header):
                return  # a 4.0 broker closes the connection
            if header.api_key == API_VERSIONS:
                await self.outbox.put(self._ready(api_versions_response(header, self.proxy.apis.values())))
                continue
            expects_answer = header.api_key != PRODUCE or produce_acks(payload) != 0
            if expects_answer:
                future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
                self.pending.append((header, future))
                await self.outbox.put(future)
            up_writer.write(frame(payload))
            await up_writer.drain()

    async def _from_broker(self, up_reader: asyncio.StreamReader) -> None:
        while (payload := await _read_frame(up_reader)) is not None:
            if not self.pending:
                log.warning("kafka4 proxy: an answer the client did not ask for")
                return
            header, future = self.pending.popleft()
            (correlation_id,) = struct.unpack_from(">i", payload)
            if correlation_id != header.correlation_id:
                log.warning("kafka4 proxy: answer %d to request %d", correlation_id, header.correlation_id)
                return
            future.set_result(self.proxy.rewrite(header, payload))

    async def _to_client(self) -> None:
        while True:
            answer = await (await self.outbox.get())
            self.client_writer.write(frame(answer))
            await self.client_writer.drain()


class Kafka4Proxy:
    """A Kafka 4.0 face in front of the broker at ``upstream`` (``kafka://host:port``)."""

    def __init__(
        self, upstream: str, apis: Mapping[int, ApiRange] = KAFKA_4_0, host: str = _LOOPBACK
    ) -> None:
        address = upstream.removeprefix("kafka://")
        up_host, _, up_port = address.rpartition(":")
        self.upstream = (up_host, int(up_port))
        self.apis = dict(apis)
        self.host, self.port = host, 0
        self._lock = threading.Lock()
        self._requests: Counter[tuple[int, int]] = Counter()
        self._rejections: list[Rejection] = []
        self._unrewritten: Counter[tuple[int, int]] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"kafka://{self.host}:{self.port}"

    @property
    def requests(self) -> Counter[tuple[int, int]]:
        """``(api_key, api_version)`` -> how many requests were admitted."""
        with self._lock:
            return Counter(self._requests)

    @property
    def rejections(self) -> list[Rejection]:
        with self._lock:
            return list(self._rejections)

    @property
    def unrewritten(self) -> Counter[tuple[int, int]]:
        """Answers that may name brokers and went back as the broker wrote them."""
        with self._lock:
            return Counter(self._unrewritten)

    def admit(self, header: RequestHeader) -> bool:
        """Whether a Kafka 4.0 broker takes this request; records it either way."""
        row = self.apis.get(header.api_key)
        # ApiVersions of any version is answered (above the range: with UNSUPPORTED_VERSION).
        if row is not None and (row.accepts(header.api_version) or header.api_key == API_VERSIONS):
            with self._lock:
                self._requests[(header.api_key, header.api_version)] += 1
            return True
        name = row.name if row else "unknown"
        reason = "no such API in Kafka 4.0" if row is None else f"Kafka 4.0 accepts v{row.min}-v{row.max}"
        rejection = Rejection(header.api_key, header.api_version, name, reason)
        log.warning(
            "kafka4 proxy: rejected %s (api key %d) v%d: %s", name, header.api_key, header.api_version, reason
        )
        with self._lock:
            self._rejections.append(rejection)
        return False

    def rewrite(self, header: RequestHeader, payload: bytes) -> bytes:
        if names_brokers(header.api_key, header.api_version):
            with self._lock:
                self._unrewritten[(header.api_key, header.api_version)] += 1
        return rewrite_response(header.api_key, header.api_version, payload, (self.host, self.port))

    def start(self) -> str:
        """Listen on a free port; returns :attr:`url` once it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(ready, failure), name="kafka4-proxy", daemon=True
        )
        self._thread.start()
        if not ready.wait(10) or failure:
            raise ServiceError(f"kafka4 proxy did not start: {failure[0] if failure else 'timeout'}")
        return self.url

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as exc:  # reported to start(), which raises ServiceError
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await _Connection(self, (reader, writer)).run()
            except asyncio.CancelledError:
                pass  # stop(): the connection is closed; nothing is waiting for this task
            finally:
                connections.discard(task)

        server = await asyncio.start_server(accept, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        async with server:
            await self._stopping.wait()
        for task in list(connections):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*connections, return_exceptions=True)

    def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is None or stopping is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(stopping.set)
        thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
