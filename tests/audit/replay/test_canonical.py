"""The canonical form drops processing times and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from worker.audit.replay.canonical import canonical, canonical_lines

EXAMPLES = Path(__file__).resolve().parents[2] / "schema_examples"


def test_only_processing_times_are_dropped() -> None:
    line = (EXAMPLES / "verdict.v1.jsonl").read_text().splitlines()[0]
    verdict = json.loads(line)
    kept = json.loads(canonical(line))
    assert set(verdict) - set(kept) == {"timings", "produced_at"}
    for before, after in zip(verdict["images"], kept["images"], strict=True):
        assert set(before) - set(after) == {"fetch_ms"}
    assert kept["bias"] == verdict["bias"] and kept["source"] == verdict["source"]


def test_verdicts_differing_only_in_timings_are_equal_and_others_are_not() -> None:
    verdict = json.loads((EXAMPLES / "verdict.v1.jsonl").read_text().splitlines()[0])
    later = {
        **verdict,
        "produced_at": "2030-01-01T00:00:00Z",
        "timings": {**verdict["timings"], "total_ms": 9.0},
    }
    assert canonical(verdict) == canonical(json.dumps(later))
    rescored = {**verdict, "bias": {**verdict["bias"], "score": 0.123}}
    assert canonical(verdict) != canonical(rescored)


def test_dead_letters_lose_their_failure_time(tmp_path: Path) -> None:
    letter = json.loads((EXAMPLES / "dead_letter.v1.jsonl").read_text().splitlines()[0])
    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps(letter) + "\n\n" + json.dumps({**letter, "failed_at": "2030-01-01T00:00:00Z"}) + "\n"
    )
    first, second = canonical_lines(path)
    assert first == second and b"failed_at" not in first
