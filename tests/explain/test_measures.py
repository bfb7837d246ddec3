"""Word matching, the two measures, and the evaluation on a small file written by the test."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.explain.conftest import LOADED, corpus
from worker.explain.evaluate import evaluate_explanations, holdout, report_lines
from worker.explain.marked import match_marked, read_marked_csv
from worker.explain.measures import faithfulness, plausibility, top_units
from worker.training.store import NoStore


def test_marked_words_are_matched_on_units_and_counted() -> None:
    m = match_marked(
        'The so-called "experts", the experts.', ["so-called", '"experts', "tyrants", "the experts"]
    )
    assert [m.text[a:b] for (a, b), g in zip(m.units, m.gold, strict=True) if g] == [
        "so-called", "experts", "the", "experts",
    ]  # fmt: skip
    assert (m.entries, m.not_found, m.repeated, m.marked) == (4, 1, 1, 4)


def test_plausibility_and_top_units() -> None:
    assert plausibility([0.1, 0.9, 0.3], [False, True, False]) == (1.0, 1.0)
    auprc, f1 = plausibility([0.9, 0.1, 0.3], [False, True, False])
    assert auprc == pytest.approx(1 / 3) and f1 == 0.0
    assert top_units([0.5, 0.5, 0.9], 2) == [0, 2]
    with pytest.raises(ValueError):
        plausibility([0.1], [False])


def test_faithfulness_removes_and_keeps_the_chosen_units() -> None:
    seen: list[str] = []

    def probability(texts: Sequence[str]) -> list[float]:
        seen.extend(texts)
        return [0.9 if "bad" in t else 0.2 for t in texts]

    f = faithfulness(["a bad day"], [[(0, 1), (2, 5), (6, 9)]], [[1]], probability)
    assert seen == ["a bad day", "a   day", "bad"]
    assert f.comprehensiveness == pytest.approx(0.7) and f.sufficiency == pytest.approx(0.0)


def test_evaluation_on_a_small_file(tmp_path: Path) -> None:
    texts, labels = corpus(200, seed=1)
    path = tmp_path / "bias.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "biased_words"])
        for text, label in zip(texts, labels, strict=True):
            marked = [w for w in text.split() if w in LOADED] if label == "1" else []
            writer.writerow([text, label, repr(marked)])
    assert len(read_marked_csv(path)) == 200
    train, test = holdout(labels)
    assert len(test) == 40 and not set(train) & set(test)
    report = evaluate_explanations(path, model=None, store=NoStore(), draws=2)
    assert report.evaluation_set["evaluated"] == 20  # every held-out biased row has its words
    rows = {(r.model, r.explanation): r for r in report.rows}
    exact, random = rows["tfidf", "linear (exact)"], rows["tfidf", "random"]
    assert exact.auprc > random.auprc + 0.3 and exact.top_k_f1 > random.top_k_f1 + 0.3
    assert exact.comprehensiveness > random.comprehensiveness
    assert rows["tfidf", "occlusion"].passes_per_text > 1 and exact.passes_per_text == 1
    assert any("| tfidf | linear (exact) |" in line for line in report_lines(report))
    held = evaluate_explanations(path, model=None, store=NoStore(), draws=1, test_path=path)
    assert held.split["protocol"] == "separate test file" and held.evaluation_set["evaluated"] == 100


def test_the_evaluate_explanations_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from worker.cli import app

    texts, labels = corpus(120, seed=2)
    path = tmp_path / "bias.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "biased_words"])
        for text, label in zip(texts, labels, strict=True):
            writer.writerow([text, label, repr([w for w in text.split() if w in LOADED])])
    out = tmp_path / "report.json"
    args = [
        "evaluate",
        "explanations",
        str(path),
        "--out",
        str(out),
        "--draws",
        "1",
        "--cache-dir",
        str(tmp_path),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "| tfidf | linear (exact) |" in result.output and "held-out macro-F1" in result.output
    assert json.loads(out.read_text())["evaluation_set"]["evaluated"] == 12
