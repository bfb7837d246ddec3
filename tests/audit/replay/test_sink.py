"""Replayed answers are written in the order the posts were read, however they finish."""

from __future__ import annotations

import json

import pytest

from worker.audit.errors import ReplayError
from worker.audit.replay.isolation import DEAD_LETTERS, FLAGGED, VERDICTS
from worker.audit.replay.outputs import Kind
from worker.audit.replay.sink import ReplaySink


class ListOutput:
    description = "a list"

    def __init__(self, fail_after: int | None = None) -> None:
        self.written: list[tuple[Kind, bytes | None, bytes]] = []
        self.fail_after = fail_after

    async def open(self) -> None:
        pass

    async def write(self, kind: Kind, key: bytes | None, value: bytes) -> None:
        if self.fail_after is not None and len(self.written) >= self.fail_after:
            raise ReplayError("disk full")
        self.written.append((kind, key, value))

    async def close(self) -> None:
        pass


def verdict(partition: int, offset: int, flagged: bool = False) -> bytes:
    body = {
        "post_id": f"p{partition}-{offset}",
        "flagged": flagged,
        "bias": {"label": "biased" if flagged else "unbiased"},
        "entailment": None,
        "clip": None,
        "model": {"settings_sha256": "abc"},
        "source": {"partition": partition, "offset": offset},
    }
    return json.dumps(body).encode()


def dead_letter(partition: int, offset: int) -> bytes:
    return json.dumps(
        {"error": {"kind": "invalid_json"}, "source": {"partition": partition, "offset": offset}}
    ).encode()


async def test_answers_are_written_in_reading_order_and_flagged_copies_dropped() -> None:
    output = ListOutput()
    sink = ReplaySink(output)
    for partition, offset in [(0, 0), (1, 0), (0, 1)]:
        sink.expect(partition, offset)
    await sink.send(VERDICTS, b"k", verdict(0, 1, flagged=True), {})
    await sink.send(FLAGGED, b"k", verdict(0, 1, flagged=True), {})
    await sink.send(DEAD_LETTERS, b"k", dead_letter(1, 0), {})
    assert output.written == [] and sink.held == 2
    await sink.send(VERDICTS, b"k", verdict(0, 0), {})
    assert [(kind, json.loads(v)["source"]["offset"]) for kind, _, v in output.written] == [
        ("verdict", 0),
        ("dead_letter", 0),
        ("verdict", 1),
    ]
    tally = sink.tally
    assert (tally.posts, tally.verdicts, tally.flagged, tally.dead_letters["invalid_json"]) == (3, 2, 1, 1)
    assert tally.bias == {"biased": 1, "unbiased": 1} and tally.settings == {"abc"}


async def test_a_live_topic_is_never_written() -> None:
    with pytest.raises(ReplayError, match="verdicts"):
        await ReplaySink(ListOutput()).send("verdicts", b"k", verdict(0, 0), {})


async def test_an_output_failure_is_kept_for_the_driver_and_stops_writing() -> None:
    output = ListOutput(fail_after=1)
    sink = ReplaySink(output)
    for offset in range(3):
        sink.expect(0, offset)
    for offset in range(3):
        await sink.send(VERDICTS, b"k", verdict(0, offset), {})  # never raises into the pipeline
    assert len(output.written) == 1
    assert isinstance(sink.error, ReplayError)
