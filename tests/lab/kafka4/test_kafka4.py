"""The Kafka 4.0 proxy's parts: the version table, the wire format, the address
rewriting, and the proxy refusing what 4.0 refuses (against a stand-in broker)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from aiokafka.protocol.admin import ApiVersionResponse_v0, ApiVersionResponse_v1
from aiokafka.protocol.coordination import FindCoordinatorResponse_v0, FindCoordinatorResponse_v1
from aiokafka.protocol.metadata import MetadataResponse_v0, MetadataResponse_v5
from moderation_lab.kafka4 import KAFKA_4_0, Kafka4Proxy
from moderation_lab.kafka4.rewrite import FIND_COORDINATOR, METADATA, names_brokers, rewrite_response
from moderation_lab.kafka4.wire import (
    Reader,
    RequestHeader,
    Writer,
    api_versions_response,
    frame,
    produce_acks,
)

PROXY = ("127.0.0.1", 40404)


def test_the_table_holds_kip_896s_baselines() -> None:
    removed_below = {0: 3, 1: 4, 2: 1, 8: 2, 9: 1, 19: 2, 20: 1, 23: 2, 32: 1, 35: 1}
    for key, baseline in removed_below.items():
        row = KAFKA_4_0[key]
        assert not row.accepts(baseline - 1) and row.accepts(baseline), row
    # Produce keeps being listed from 0 (KAFKA-18659) while refusing 0-2.
    assert KAFKA_4_0[0].advertised_min == 0 and KAFKA_4_0[0].min == 3
    assert all(r.advertised_min == r.min for k, r in KAFKA_4_0.items() if k != 0)
    assert all(r.min <= r.max for r in KAFKA_4_0.values())


def _request(key: int, version: int, correlation_id: int, body: bytes = b"", client: bytes = b"t") -> bytes:
    return struct.pack(">hhih", key, version, correlation_id, len(client)) + client + body


@pytest.mark.parametrize(("version", "parser"), [(0, ApiVersionResponse_v0), (1, ApiVersionResponse_v1)])
def test_the_api_versions_answer_decodes_as_clients_read_it(version: int, parser: type) -> None:
    answer = api_versions_response(RequestHeader(18, version, 99), KAFKA_4_0.values())
    (correlation_id,) = struct.unpack_from(">i", answer)
    decoded = parser.decode(answer[4:])
    assert correlation_id == 99 and decoded.error_code == 0
    ranges = {key: (low, high) for key, low, high in decoded.api_versions}
    assert ranges[0] == (0, 12) and ranges[1] == (4, 17) and ranges[19] == (2, 7)
    assert set(ranges) == set(KAFKA_4_0)


def test_a_flexible_api_versions_answer_and_one_too_new() -> None:
    answer = api_versions_response(RequestHeader(18, 3, 5), KAFKA_4_0.values())
    reader = Reader(answer)
    assert reader.int32() == 5 and reader.int16() == 0
    count = reader.uvarint() - 1
    rows = []
    for _ in range(count):
        rows.append((reader.int16(), reader.int16(), reader.int16()))
        reader.skip_tagged_fields()
    assert reader.int32() == 0  # throttle
    reader.skip_tagged_fields()
    assert reader.rest() == b"" and len(rows) == len(KAFKA_4_0)
    too_new = api_versions_response(RequestHeader(18, 9, 6), KAFKA_4_0.values())
    assert ApiVersionResponse_v0.decode(too_new[4:]).error_code == 35  # UNSUPPORTED_VERSION


@pytest.mark.parametrize("acks", [0, 1, -1])
def test_produce_acks_are_read_in_plain_and_flexible_requests(acks: int) -> None:
    plain = _request(0, 7, 1, Writer().string("tx", compact=False).int16(acks).bytes())
    flexible = _request(0, 9, 2, Writer().uvarint(0).string(None, compact=True).int16(acks).bytes())
    assert produce_acks(plain) == acks and produce_acks(flexible) == acks


def test_metadata_answers_name_the_proxy_and_keep_the_rest() -> None:
    brokers = [(1, "127.0.0.1", 9092, None)]
    topics = [(0, "posts", False, [(0, 0, 1, [1], [1], [])])]
    for response in (
        MetadataResponse_v0([(1, "127.0.0.1", 9092)], [(0, "posts", [(0, 0, 1, [1], [1])])]),
        MetadataResponse_v5(0, brokers, "cluster", 1, topics),
    ):
        payload = struct.pack(">i", 3) + response.encode()
        rewritten = rewrite_response(METADATA, response.API_VERSION, payload, PROXY)
        decoded = type(response).decode(rewritten[4:])
        assert [(b[1], b[2]) for b in decoded.brokers] == [PROXY]
        assert decoded.topics == response.topics
    # A flexible (v9+) answer: compact strings and tagged fields.
    flexible = (
        Writer().int32(3).uvarint(0).int32(0).uvarint(2).int32(1).string("10.0.0.9", compact=True)
        .int32(9092).string(None, compact=True).uvarint(0).raw(b"rest").bytes()
    )  # fmt: skip
    reader = Reader(rewrite_response(METADATA, 12, flexible, PROXY))
    assert reader.int32() == 3 and reader.uvarint() == 0 and reader.int32() == 0 and reader.uvarint() == 2
    assert reader.int32() == 1 and reader.string(compact=True) == PROXY[0] and reader.int32() == PROXY[1]


def test_find_coordinator_answers_name_the_proxy_unless_there_is_none() -> None:
    found = FindCoordinatorResponse_v1(0, 0, None, 1, "127.0.0.1", 9092)
    missing = FindCoordinatorResponse_v0(15, -1, "", -1)
    for response in (found, missing):
        payload = struct.pack(">i", 8) + response.encode()
        rewritten = rewrite_response(FIND_COORDINATOR, response.API_VERSION, payload, PROXY)
        decoded = type(response).decode(rewritten[4:])
        expected = PROXY if response is found else ("", -1)
        assert (decoded.host, decoded.port) == expected
    assert names_brokers(60, 0) and names_brokers(0, 10) and not names_brokers(0, 7)


@pytest.fixture
def stand_in_broker() -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server that records the frames it gets and answers each with its correlation id."""
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                while (size_bytes := conn.recv(4, socket.MSG_WAITALL)) and len(size_bytes) == 4:
                    payload = conn.recv(struct.unpack(">i", size_bytes)[0], socket.MSG_WAITALL)
                    received.append(payload)
                    conn.sendall(frame(payload[4:8] + b"ok"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"kafka://127.0.0.1:{server.getsockname()[1]}", received
    server.close()


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(frame(request))
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return b""
    return sock.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)


def test_the_proxy_forwards_what_4_0_takes_and_closes_on_what_it_refuses(
    stand_in_broker: tuple[str, list[bytes]],
) -> None:
    url, received = stand_in_broker
    with Kafka4Proxy(url) as proxy:
        host, port = proxy.url.removeprefix("kafka://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            versions = ApiVersionResponse_v0.decode(_exchange(sock, _request(18, 0, 1))[4:])
            assert (1, 4, 17) in versions.api_versions
            assert _exchange(sock, _request(1, 11, 2)) == struct.pack(">i", 2) + b"ok"
            assert _exchange(sock, _request(1, 3, 3)) == b""  # Fetch v3: closed
        assert [RequestHeader.parse(p).api_version for p in received] == [11]  # v3 never reached it
        assert [(r.api_key, r.api_version, r.name) for r in proxy.rejections] == [(1, 3, "Fetch")]
        assert proxy.requests == {(18, 0): 1, (1, 11): 1}
