"""Two verdict sets over the same posts: agreement, flips both ways, score differences, plot."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import typer
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from worker.audit.commands import register
from worker.audit.compare.diff import compare_sets
from worker.audit.compare.load import read_jsonl, verdict_set
from worker.audit.compare.plot import comparison_figure, write_plot
from worker.audit.compare.report import comparison_tables
from worker.audit.errors import CompareError

EXAMPLES = Path(__file__).resolve().parents[1] / "schema_examples"


def corpus() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (EXAMPLES / "verdict.v1.jsonl").read_text().splitlines()]


def lines(verdicts: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(v).encode() for v in verdicts]


def rethresholded(verdicts: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    """The same scores judged against another bias threshold."""
    out = copy.deepcopy(verdicts)
    for v in out:
        v["bias"]["threshold"] = threshold
        v["bias"]["label"] = "biased" if v["bias"]["score"] >= threshold else "unbiased"
    return out


def test_identical_sets_agree_everywhere() -> None:
    left, right = verdict_set("a", lines(corpus())), verdict_set("b", lines(corpus()))
    result = compare_sets(left, right)
    assert len(result.joined) == len(corpus()) and result.only_left == result.only_right == 0
    assert all(head.rate == 1.0 and not head.flips for head in result.heads)
    assert result.identical == len(corpus())
    assert all(stat == 0.0 for diff in result.scores for key, stat in diff.stats().items())


def test_flips_are_counted_in_both_directions_with_examples() -> None:
    base = corpus()
    scores = sorted(v["bias"]["score"] for v in base)
    assert scores[0] < scores[-1], "the corpus needs different bias scores"
    cut = scores[-1]
    left = verdict_set("low", lines(rethresholded(base, scores[0])))  # everything biased
    right = verdict_set("high", lines(rethresholded(base, cut)))  # only the top one
    bias = compare_sets(left, right, examples=1).heads[0]
    flipped = sum(1 for s in scores if s < cut)
    assert bias.flips == {("biased", "unbiased"): flipped}
    assert len(bias.examples[("biased", "unbiased")]) == 1
    reverse = compare_sets(right, left).heads[0]
    assert reverse.flips == {("unbiased", "biased"): flipped} and reverse.agree == len(base) - flipped


def test_score_differences_are_right_minus_left() -> None:
    base = corpus()
    moved = copy.deepcopy(base)
    moved[0]["bias"]["score"] += 0.25
    result = compare_sets(verdict_set("a", lines(base)), verdict_set("b", lines(moved)))
    assert result.identical == len(base) - 1
    bias = next(d for d in result.scores if d.name == "bias score")
    stats = bias.stats()
    assert stats["max_abs"] == pytest.approx(0.25) and stats["mean"] == pytest.approx(0.25 / len(base))
    assert bias.worst == base[0]["post_id"]


def test_a_head_present_on_one_side_only_counts_as_a_flip_to_none() -> None:
    base = corpus()
    with_clip = next(v for v in base if v["clip"] is not None)
    stripped = [({**v, "clip": None} if v is with_clip else v) for v in base]
    clip = compare_sets(verdict_set("a", lines(base)), verdict_set("b", lines(stripped))).heads[2]
    assert clip.flips == {(with_clip["clip"]["top_label"], "(none)"): 1}


def test_last_verdict_per_post_wins_and_other_messages_are_skipped(tmp_path: Path) -> None:
    base = corpus()
    later = copy.deepcopy(base[0])
    later["bias"]["score"] = 0.999
    letter = (EXAMPLES / "dead_letter.v1.jsonl").read_text().splitlines()[0]
    path = tmp_path / "v.jsonl"
    path.write_bytes(b"\n".join([*lines(base), json.dumps(later).encode(), letter.encode(), b""]))
    loaded = read_jsonl(path)
    assert loaded.replaced == 1 and loaded.skipped == 1
    assert loaded.verdicts[base[0]["post_id"]]["bias"]["score"] == 0.999
    assert sum(loaded.models.values()) == len(base) + 1


def test_unreadable_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="record 2"):
        verdict_set("x", [lines(corpus())[0], b"{not json"])
    with pytest.raises(CompareError, match="cannot read"):
        read_jsonl(tmp_path / "missing.jsonl")


def test_tables_and_plot(tmp_path: Path) -> None:
    base = corpus()
    result = compare_sets(verdict_set("a", lines(base)), verdict_set("b", lines(rethresholded(base, 0.3))))
    console = Console(record=True, width=160)
    for table in comparison_tables(result):
        console.print(table)
    text = console.export_text()
    assert "Agreement per head" in text and "Score differences" in text
    assert "identical apart from processing times: 0 of" in text
    figure = comparison_figure(result)
    agreement, *histograms = figure.axes[: 1 + len(result.scores)]
    widths = [bar.get_width() for bar in agreement.patches]
    assert widths == [head.rate for head in result.heads]
    labels = [text.get_text() for text in agreement.texts]
    assert labels == [f"{100 * h.rate:.1f}% ({h.agree}/{h.compared})" for h in result.heads]
    assert [ax.get_title(loc="left").split(":")[0] for ax in histograms] == [d.name for d in result.scores]
    path = write_plot(result, tmp_path / "plots" / "compare.png")
    rows = (2 + len(result.scores)) // 2
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (1120, 300 * rows)


def test_compare_command_on_two_files(tmp_path: Path) -> None:
    base = corpus()
    left, right = tmp_path / "live.jsonl", tmp_path / "candidate.jsonl"
    left.write_bytes(b"\n".join(lines(base)))
    right.write_bytes(b"\n".join(lines(rethresholded(base, 0.0))))
    app = typer.Typer()
    register(app)
    plot = tmp_path / "c.png"
    result = CliRunner().invoke(app, ["compare", str(left), str(right), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "bias label" in result.output and plot.exists()
    unrelated = tmp_path / "other.jsonl"
    unrelated.write_text(json.dumps({**base[0], "post_id": "elsewhere"}) + "\n")
    result = CliRunner().invoke(app, ["compare", str(left), str(unrelated), "--plot", str(plot)])
    assert result.exit_code == 1 and "no post in common" in result.output
