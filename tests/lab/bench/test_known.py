"""The known-content bench end to end on small banks: its table's figures and its cross-checks."""

from __future__ import annotations

import json
from pathlib import Path

from moderation_lab.bench.known import main


def test_small_run_reports_rates_memory_recall_and_false_matches(tmp_path: Path) -> None:
    out = tmp_path / "known.json"
    argv = ["--sizes", "2000,20000", "--images", "6", "--unrelated", "30", "--budget-s", "0.05"]
    assert main([*argv, "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert [row["hashes"] for row in r["sizes"]] == [2000, 20000]
    for row in r["sizes"]:
        assert row["lookups_per_s"] > 0 and row["brute_force_lookups_per_s"] > 0
        assert row["private_mb_mapped"] <= row["index_mb"]
    assert set(r["recall"]) >= {"resized 50%", "JPEG quality 60", "brightness +20%"}
    assert all(edit["index_equals_brute_force"] for edit in r["recall"].values())
    assert r["recall"]["JPEG quality 60"]["recall"] == 1.0
    assert r["false_matches"] == {"unrelated_images": 30, "matched": 0}
