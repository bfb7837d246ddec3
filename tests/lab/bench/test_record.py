"""What a bench run leaves behind when it is stopped or a phase fails: the phases done,
their figures, where and why it stopped, in a file written whole. With a fake clock and a
silent console: no timing is asserted."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from moderation_lab.bench.progress import Progress
from moderation_lab.bench.record import Record, Stopped, recorded_phase, run_recorded
from rich.console import Console


def _progress(out: io.StringIO) -> Progress:
    ticks = iter(range(0, 10_000, 5))
    return Progress(
        ["first", "second", "third"], Console(file=out, width=200), clock=lambda: float(next(ticks))
    )


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_each_phase_is_announced_with_its_size_and_written_when_done(tmp_path: Path) -> None:
    out, results = io.StringIO(), dict[str, Any]()
    progress, record = _progress(out), Record(tmp_path / "r.json", results)

    def work() -> None:
        recorded_phase(progress, record, "first", "3 passes of 16 items", lambda: results.update(a=1.5))
        assert _read(record.path) == {"a": 1.5, "run": {"complete": False, "phases_done": ["first"]}}
        recorded_phase(progress, record, "second", "one stream", lambda: results.update(b=2))
        record.save(progress.done, complete=True)

    assert run_recorded(progress, record, work) == 0
    assert _read(record.path)["run"] == {"complete": True, "phases_done": ["first", "second"]}
    printed = out.getvalue()
    assert "[1/3] first: 3 passes of 16 items" in printed
    assert "[2/3] second: one stream" in printed
    assert not list(tmp_path.glob(".*tmp"))  # written under a temporary name, then renamed


def test_a_failing_phase_leaves_what_was_measured_and_why(tmp_path: Path) -> None:
    results: dict[str, Any] = {}
    progress, record = _progress(io.StringIO()), Record(tmp_path / "r.json", results)

    def broken() -> None:
        results["b_partial"] = [4.0]
        raise RuntimeError("the broker went away")

    def work() -> None:
        recorded_phase(progress, record, "first", "-", lambda: results.update(a=1))
        recorded_phase(progress, record, "second", "-", broken)
        recorded_phase(progress, record, "third", "-", lambda: results.update(c=3))

    assert run_recorded(progress, record, work) == 1
    written = _read(record.path)
    assert written["a"] == 1 and written["b_partial"] == [4.0] and "c" not in written
    run = written["run"]
    assert run["complete"] is False and run["phases_done"] == ["first"] and run["stopped_in"] == "second"
    assert run["reason"] == "failed: RuntimeError: the broker went away"
    assert "RuntimeError" in run["traceback"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_run_and_the_figures_are_kept(tmp_path: Path, signum: int) -> None:
    results: dict[str, Any] = {}
    progress, record = _progress(io.StringIO()), Record(tmp_path / "r.json", results)
    before = signal.getsignal(signum)

    def interrupted() -> None:
        results["rounds"] = [1.0]
        os.kill(os.getpid(), signum)  # delivered to this (the main) thread at once
        raise AssertionError("the signal should have stopped the phase")

    assert (
        run_recorded(progress, record, lambda: recorded_phase(progress, record, "first", "-", interrupted))
        == 130
    )
    run = _read(record.path)["run"]
    assert run["reason"] == f"stopped by {signal.Signals(signum).name}" and run["stopped_in"] == "first"
    assert run["traceback"] is None and _read(record.path)["rounds"] == [1.0]
    assert signal.getsignal(signum) is before  # the handlers are put back


def test_stopped_is_not_caught_by_except_exception() -> None:
    with pytest.raises(Stopped):
        try:
            raise Stopped(signal.SIGTERM)
        except Exception:
            pytest.fail("Stopped must pass through")


def test_numpy_figures_are_written_as_plain_numbers(tmp_path: Path) -> None:
    import numpy as np

    record = Record(tmp_path / "r.json", {"rate": np.float32(2.5), "n": np.int64(3), "where": tmp_path})
    record.save([])
    written = _read(record.path)
    assert written["rate"] == 2.5 and written["n"] == 3 and written["where"] == str(tmp_path)


def test_an_unknown_phase_is_refused_before_anything_runs(tmp_path: Path) -> None:
    from moderation_lab.bench.main import PHASES, main

    with pytest.raises(SystemExit, match="unknown phase"):
        main(["--phases", "backend table,warp drive", "--out", str(tmp_path / "r.json")])
    assert not (tmp_path / "r.json").exists()
    assert "backend table" in PHASES and all("," not in name for name in PHASES)  # --phases splits on commas
