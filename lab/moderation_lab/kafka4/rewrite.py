"""Answers that name brokers, rewritten to name the proxy instead.

A Kafka client bootstraps once, then connects to the addresses the broker
advertises in Metadata and FindCoordinator answers. Behind a proxy those are the
broker's own, and the client would go around the proxy. noida-db has no setting for
the address it advertises, so rather than start each broker differently the proxy
rewrites every broker address in those two answers (all their versions, flexible
ones included) to its own. One broker behind one proxy: every address maps to it.

Other answers can carry addresses too (DescribeCluster; Produce v10+ and Fetch v16+
in tagged fields, KIP-951); :func:`names_brokers` lets the proxy note those, since it
leaves them as they are.

Example::

    body = rewrite_response(METADATA, 5, body, ("127.0.0.1", 40001))
"""

from __future__ import annotations

from moderation_lab.kafka4.wire import Reader, Writer

__all__ = ["FIND_COORDINATOR", "METADATA", "names_brokers", "rewrite_response"]

METADATA = 3
FIND_COORDINATOR = 10
_DESCRIBE_CLUSTER = 60
Address = tuple[str, int]


def names_brokers(api_key: int, version: int) -> bool:
    """Whether an answer of this API and version may carry addresses left unrewritten."""
    return (
        api_key == _DESCRIBE_CLUSTER or (api_key == 0 and version >= 10) or (api_key == 1 and version >= 16)
    )


def _address(reader: Reader, out: Writer, to: Address, *, compact: bool) -> None:
    """Copies ``host``, ``port`` from ``reader`` to ``out``, as ``to`` unless it is unset."""
    host, port = reader.string(compact=compact), reader.int32()
    if host and port >= 0:
        host, port = to
    out.string(host, compact=compact).int32(port)


def _metadata(version: int, reader: Reader, out: Writer, to: Address) -> None:
    flexible = version >= 9
    if version >= 3:
        out.int32(reader.int32())  # throttle_time_ms
    count = reader.uvarint() - 1 if flexible else reader.int32()
    if flexible:
        out.uvarint(count + 1)
    else:
        out.int32(count)
    for _ in range(max(count, 0)):
        out.int32(reader.int32())  # node_id
        _address(reader, out, to, compact=flexible)
        if version >= 1:
            out.string(reader.string(compact=flexible), compact=flexible)  # rack
        if flexible:
            start = reader.offset
            reader.skip_tagged_fields()
            out.raw(reader.data[start : reader.offset])


def _find_coordinator(version: int, reader: Reader, out: Writer, to: Address) -> None:
    flexible = version >= 3
    if version >= 1:
        out.int32(reader.int32())  # throttle_time_ms
    if version >= 4:
        count = reader.uvarint() - 1
        out.uvarint(count + 1)
        for _ in range(max(count, 0)):
            out.string(reader.string(compact=True), compact=True)  # key
            out.int32(reader.int32())  # node_id
            _address(reader, out, to, compact=True)
            out.int16(reader.int16())  # error_code
            out.string(reader.string(compact=True), compact=True)  # error_message
            start = reader.offset
            reader.skip_tagged_fields()
            out.raw(reader.data[start : reader.offset])
        return
    out.int16(reader.int16())  # error_code
    if version >= 1:
        out.string(reader.string(compact=flexible), compact=flexible)  # error_message
    out.int32(reader.int32())  # node_id
    _address(reader, out, to, compact=flexible)


def rewrite_response(api_key: int, version: int, payload: bytes, to: Address) -> bytes:
    """``payload`` (a response without its size) with broker addresses set to ``to``.

    Answers of other APIs come back unchanged.
    """
    if api_key == METADATA:
        body, flexible = _metadata, version >= 9
    elif api_key == FIND_COORDINATOR:
        body, flexible = _find_coordinator, version >= 3
    else:
        return payload
    reader, out = Reader(payload), Writer()
    out.int32(reader.int32())  # correlation id
    if flexible:  # response header v1
        start = reader.offset
        reader.skip_tagged_fields()
        out.raw(payload[start : reader.offset])
    body(version, reader, out, to)
    return out.raw(reader.rest()).bytes()
