"""Just enough of the Kafka wire format for a version-checking proxy.

A Kafka frame is a big-endian int32 size and that many bytes. A request starts with
``api_key`` (int16), ``api_version`` (int16), ``correlation_id`` (int32) and the client
id (int16-sized string); flexible versions add tagged fields. Responses start with the
correlation id. This module reads those headers, encodes the ApiVersions answer (v0-v4),
and reads the ``acks`` of a Produce request (``acks=0`` has no response).

Example::

    header = RequestHeader.parse(frame)
    body = api_versions_response(header, KAFKA_4_0.values())
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from moderation_lab.kafka4.versions import ApiRange

__all__ = [
    "API_VERSIONS",
    "PRODUCE",
    "UNSUPPORTED_VERSION",
    "Reader",
    "RequestHeader",
    "WireError",
    "Writer",
    "api_versions_response",
    "frame",
    "produce_acks",
]

PRODUCE = 0
API_VERSIONS = 18
#: Kafka's error code for a request version the broker does not support.
UNSUPPORTED_VERSION = 35
# First flexible version of the requests whose bodies are read here.
_FLEXIBLE_FROM = {PRODUCE: 9, API_VERSIONS: 3}


class WireError(ValueError):
    """A frame too short or malformed for what is read from it."""


class Reader:
    """Reads big-endian Kafka primitives from ``data`` starting at ``offset``."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data, self.offset = data, offset

    def _take(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise WireError(f"frame ends at {len(self.data)}, needed {self.offset + size}")
        (value,) = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return int(value)

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def uvarint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self._take(">B")
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 28:
                raise WireError("varint longer than 5 bytes")

    def raw(self, size: int) -> bytes:
        if size < 0 or self.offset + size > len(self.data):
            raise WireError(f"a field of {size} bytes runs past the frame")
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def string(self, *, compact: bool) -> str | None:
        """A (nullable) string: int16 length, or unsigned varint length + 1 when compact."""
        size = self.uvarint() - 1 if compact else self.int16()
        return None if size < 0 else self.raw(size).decode()

    def skip_tagged_fields(self) -> None:
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.raw(self.uvarint())

    def rest(self) -> bytes:
        return self.data[self.offset :]


class Writer:
    """Appends big-endian Kafka primitives."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def int16(self, value: int) -> Writer:
        self.parts.append(struct.pack(">h", value))
        return self

    def int32(self, value: int) -> Writer:
        self.parts.append(struct.pack(">i", value))
        return self

    def uvarint(self, value: int) -> Writer:
        out = bytearray()
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
        self.parts.append(bytes(out))
        return self

    def string(self, value: str | None, *, compact: bool) -> Writer:
        if value is None:
            return self.uvarint(0) if compact else self.int16(-1)
        encoded = value.encode()
        if compact:
            self.uvarint(len(encoded) + 1)
        else:
            self.int16(len(encoded))
        self.parts.append(encoded)
        return self

    def raw(self, data: bytes) -> Writer:
        self.parts.append(data)
        return self

    def bytes(self) -> bytes:
        return b"".join(self.parts)


@dataclass(frozen=True)
class RequestHeader:
    """The fixed start of every request."""

    api_key: int
    api_version: int
    correlation_id: int

    @classmethod
    def parse(cls, payload: bytes) -> RequestHeader:
        reader = Reader(payload)
        return cls(reader.int16(), reader.int16(), reader.int32())


def frame(payload: bytes) -> bytes:
    """``payload`` with its int32 size in front."""
    return struct.pack(">i", len(payload)) + payload


def api_versions_response(header: RequestHeader, apis: Iterable[ApiRange], *, max_version: int = 4) -> bytes:
    """The ApiVersions answer (without its size) to ``header``, listing ``apis``.

    A version above ``max_version`` gets a v0 answer with UNSUPPORTED_VERSION, as a
    Kafka broker gives, so that the client can retry with one it lists.
    """
    version = header.api_version
    error = 0
    if version > max_version:
        version, error = 0, UNSUPPORTED_VERSION
    flexible = version >= _FLEXIBLE_FROM[API_VERSIONS]
    rows = sorted(apis, key=lambda r: r.key)
    # The response header of ApiVersions is v0 (no tagged fields) even when the body is flexible.
    out = Writer().int32(header.correlation_id).int16(error)
    if flexible:
        out.uvarint(len(rows) + 1)
    else:
        out.int32(len(rows))
    for row in rows:
        out.int16(row.key).int16(row.advertised_min).int16(row.max)
        if flexible:
            out.uvarint(0)
    if version >= 1:
        out.int32(0)  # throttle_time_ms
    if flexible:
        out.uvarint(0)
    return out.bytes()


def produce_acks(payload: bytes) -> int:
    """The ``acks`` of a Produce request (v3 or later: those carry a transactional id)."""
    header = RequestHeader.parse(payload)
    if header.api_key != PRODUCE or header.api_version < 3:
        raise WireError(f"not a Produce request of version 3 or later: {header}")
    flexible = header.api_version >= _FLEXIBLE_FROM[PRODUCE]
    reader = Reader(payload, 8)
    reader.string(compact=False)  # the client id is never compact
    if flexible:
        reader.skip_tagged_fields()
    reader.string(compact=flexible)  # transactional id
    return reader.int16()
