"""Counting answers against posts sent, and the report built from the counts."""

from __future__ import annotations

import json
from pathlib import Path

from moderation_lab.reliability.accounting import Tally
from moderation_lab.reliability.harness import Outcome
from moderation_lab.reliability.report import print_report, write_results
from rich.console import Console


def outcomes(*keys: str, kind: str = "verdict") -> list[Outcome]:
    return [Outcome(kind, key) for key in keys]


def test_duplicates_and_lost_posts_are_counted() -> None:
    answers = outcomes("a", "a", "b", "stranger") + outcomes("c", kind="dead_letter")
    tally = Tally.count("s", ["a", "b", "c", "d"], answers)
    assert (tally.posts_sent, tally.verdicts, tally.dead_letters) == (4, 3, 1)
    assert (tally.duplicates, tally.lost) == (1, 1)
    assert not tally.passed


def test_a_scenario_passes_only_with_nothing_lost_no_canary_hit_and_every_check_held() -> None:
    tally = Tally.count("s", ["a"], outcomes("a"))
    assert tally.passed
    tally.canary_requests = 1
    assert not tally.passed
    tally.canary_requests = 0
    tally.check("something", False, "why")
    assert not tally.passed and tally.failed[0].detail == "why"


def test_total_adds_up_and_keeps_every_check() -> None:
    first = Tally.count("one", ["a", "b"], outcomes("a", "a", "b"))
    second = Tally.count("two", ["c"], [])
    second.check("held", True)
    total = Tally.total([first, second])
    assert (total.posts_sent, total.verdicts, total.duplicates, total.lost) == (3, 3, 1, 1)
    assert [c.name for c in total.checks] == ["two: held"]


def test_results_file_and_table(tmp_path: Path) -> None:
    tally = Tally.count("scenario", ["a"], outcomes("a"))
    tally.seconds = 1.5
    path = tmp_path / "reliability-results.json"
    write_results([tally], path)
    document = json.loads(path.read_text())
    assert document["passed"] is True
    assert document["total"]["lost"] == 0 and document["total"]["canary_requests"] == 0
    assert document["scenarios"][0]["scenario"] == "scenario"
    console = Console(record=True, width=160)
    print_report([tally], console)
    text = console.export_text()
    assert "scenario" in text and "total" in text and "pass" in text
