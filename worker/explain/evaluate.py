"""Explanations measured on the media-bias file: plausibility and faithfulness.

The declared protocol's split (stratified 80/20, seed 0, as every figure on "the split"
uses): each model is trained on the 80% with the worker's category recipe, and explained
on the evaluation set, the held-out biased sentences with at least one expert-marked word
found in the text (:mod:`worker.explain.marked` says how words are matched; what is
dropped is counted in the report). Models:

- ``tfidf``: a TF-IDF-only head, explained exactly (``linear``) and by ``occlusion``;
- ``encoder``: the text encoder's features plus TF-IDF (the default category recipe),
  explained by ``occlusion``.

Beside them, two baselines scored on the same units: ``random`` (uniform scores, mean
of ``draws`` draws) and ``tfidf-weights`` (each word's weight in the TF-IDF head, the
same everywhere, whatever its context). Faithfulness of every source is measured on
each model with the top ``k`` units, ``k`` the number of marked units.

Example::

    report = evaluate_explanations(Path("media-bias.csv"), model=None, store=NoStore())
    print("\\n".join(report_lines(report)))
"""

from __future__ import annotations

import bisect
import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from sklearn.model_selection import train_test_split

from worker.explain.linear import _TOKEN, LinearExplainer, word_contributions
from worker.explain.marked import Marked, MarkedRow, match_marked, read_marked_csv
from worker.explain.measures import faithfulness, plausibility, top_units
from worker.explain.occlusion import OcclusionExplainer
from worker.model.category_head import CategoryHead
from worker.model.moderation import ModerationModel
from worker.model.types import FloatArray, PostFeatures
from worker.training.category import CategoryTrainConfig, fit_recipe, save_head
from worker.training.encode import encode_texts
from worker.training.store import FeatureStore

__all__ = [
    "ExplanationReport",
    "Row",
    "evaluate_explanations",
    "evaluation_set",
    "holdout",
    "report_lines",
    "train_head",
]

log = logging.getLogger(__name__)
#: Scores of each unit of each text (higher: more responsible for the score).
UnitScores = Callable[[Sequence[Marked]], list[list[float]]]
Probability = Callable[[Sequence[str]], Sequence[float]]


class Row(BaseModel):
    model: str
    explanation: str
    auprc: float
    top_k_f1: float
    comprehensiveness: float
    sufficiency: float
    passes_per_text: float
    seconds: float


class ExplanationReport(BaseModel):
    data_rows: int
    split: dict[str, object]
    evaluation_set: dict[str, int]
    held_out_f1: dict[str, float]
    rows: list[Row]


@dataclass
class _Subject:
    """A trained model: its probability of "biased", and how each method scores units."""

    name: str
    head: CategoryHead
    probability: Probability
    methods: dict[str, tuple[UnitScores, Callable[[Marked], int]]]


def holdout(labels: Sequence[str], fraction: float = 0.2, seed: int = 0) -> tuple[list[int], list[int]]:
    """The declared protocol's split (stratified, seed 0): sorted (train, test) row indices."""
    rows = np.arange(len(labels))
    train, test = train_test_split(rows, test_size=fraction, random_state=seed, stratify=list(labels))
    return sorted(int(i) for i in train), sorted(int(i) for i in test)


def evaluation_set(rows: Sequence[MarkedRow], test: Sequence[int]) -> tuple[list[Marked], dict[str, int]]:
    """Held-out biased sentences with marked words found; and the counts of what was dropped."""
    biased = [rows[i] for i in test if rows[i].label == "1"]
    matched = [match_marked(r.text, r.biased_words) for r in biased]
    kept = [m for m in matched if m.marked]
    counts = {
        "held_out_rows": len(test),
        "held_out_biased": len(biased),
        "dropped_no_marked_words": sum(1 for m in matched if not m.entries),
        "dropped_marked_words_not_found": sum(1 for m in matched if m.entries and not m.marked),
        "dropped_unbiased_with_marked_words": sum(
            1 for i in test if rows[i].label != "1" and rows[i].biased_words
        ),
        "kept": len(kept),
        "marked_entries": sum(m.entries for m in kept),
        "entries_not_found": sum(m.not_found for m in kept),
        "entries_found_twice_or_more": sum(m.repeated for m in kept),
        "units": sum(len(m.units) for m in kept),
        "marked_units": sum(m.marked for m in kept),
    }
    return kept, counts


def train_head(
    folder: Path, texts: list[str], labels: list[str], dense: FloatArray | None, encoder_id: str | None
) -> CategoryHead:
    config = CategoryTrainConfig(
        name="bias", categories={"1": "bias"}, encoder_features=dense is not None, cv_folds=0
    )
    y = np.asarray([int(label) for label in labels])
    fit = fit_recipe(dense, texts, y, config, balanced=True)
    save_head(folder, config, ["0", "1"], fit, {"text": encoder_id} if encoder_id else {})
    return CategoryHead.load(folder, {"text": encoder_id} if encoder_id else {})


def _by_unit(marked: Marked, spans: Sequence[tuple[int, int, float]]) -> list[float]:
    """Contributions of spans, summed per unit containing their start."""
    starts = [a for a, _ in marked.units]
    scores = [0.0] * len(marked.units)
    for start, _end, value in spans:
        i = bisect.bisect_right(starts, start) - 1
        if i >= 0 and start < marked.units[i][1]:
            scores[i] += value
    return scores


def _linear_scores(explainer: LinearExplainer) -> UnitScores:
    def scores(marked: Sequence[Marked]) -> list[list[float]]:
        found = explainer.ngrams([m.text for m in marked], class_index=1)
        return [
            _by_unit(m, [(s.start, s.end, s.contribution) for s in word_contributions(g)])
            for m, g in zip(marked, found, strict=True)
        ]

    return scores


def _occlusion_scores(predict: Callable[[Sequence[str]], FloatArray]) -> UnitScores:
    explainer = OcclusionExplainer(predict, max_units=10**6, max_batch=256)  # every word its own unit

    def scores(marked: Sequence[Marked]) -> list[list[float]]:
        out = []
        for start in range(0, len(marked), 32):  # progress, and a bounded batch
            chunk = marked[start : start + 32]
            for m, occluded in zip(chunk, explainer.occlude([m.text for m in chunk]), strict=True):
                assert occluded.units == m.units
                out.append([float(d) for d in occluded.drops[:, 1]])
            log.info("occlusion: %d/%d texts", len(out), len(marked))
        return out

    return scores


def _weights_scores(explainer: LinearExplainer) -> UnitScores:
    w, _ = explainer.contrast(1)
    vocabulary = explainer.tfidf.vocabulary

    def scores(marked: Sequence[Marked]) -> list[list[float]]:
        return [
            [
                sum(float(w[vocabulary[t]]) for t in _TOKEN.findall(m.text[a:b].lower()) if t in vocabulary)
                for a, b in m.units
            ]
            for m in marked
        ]

    return scores


def _random_scores(seed: int) -> UnitScores:
    def scores(marked: Sequence[Marked]) -> list[list[float]]:
        rng = np.random.default_rng(seed)
        return [list(rng.random(len(m.units))) for m in marked]

    return scores


def _subjects(
    rows: Sequence[MarkedRow],
    train: Sequence[int],
    folder: Path,
    model: ModerationModel | None,
    store: FeatureStore,
) -> tuple[list[_Subject], LinearExplainer]:
    texts, labels = [rows[i].text for i in train], [rows[i].label for i in train]
    tfidf = train_head(folder / "tfidf", texts, labels, None, None)

    def tfidf_predict(batch: Sequence[str]) -> FloatArray:
        return tfidf.probabilities([PostFeatures(raw_text=t) for t in batch])

    linear = LinearExplainer.from_head(tfidf)
    subjects = [
        _Subject(
            "tfidf",
            tfidf,
            lambda batch: list(tfidf_predict(batch)[:, 1]),
            {
                "linear (exact)": (_linear_scores(linear), lambda m: 1),
                "occlusion": (_occlusion_scores(tfidf_predict), lambda m: 1 + len(m.units)),
            },
        )
    ]
    if model is not None:
        log.info("encoding %d training texts", len(texts))
        encoder_id = model.encoder_ids["text"]
        head = train_head(folder / "encoder", texts, labels, encode_texts(model, texts, store), encoder_id)

        def encoder_predict(batch: Sequence[str]) -> FloatArray:
            vectors = encode_texts(model, batch, store)
            return head.probabilities(
                [PostFeatures(text=v, raw_text=t) for t, v in zip(batch, vectors, strict=True)]
            )

        subjects.append(
            _Subject(
                "encoder+tfidf",
                head,
                lambda batch: list(encoder_predict(batch)[:, 1]),
                {"occlusion": (_occlusion_scores(encoder_predict), lambda m: 1 + len(m.units))},
            )
        )
    return subjects, linear


def _macro_f1(subject: _Subject, rows: Sequence[MarkedRow], test: Sequence[int]) -> float:
    from sklearn.metrics import f1_score

    p = np.asarray(subject.probability([rows[i].text for i in test]))
    truth = [int(rows[i].label) for i in test]
    return round(float(f1_score(truth, (p >= 0.5).astype(int), average="macro")), 4)


def _row(
    subject: _Subject,
    name: str,
    marked: Sequence[Marked],
    draws: Sequence[list[list[float]]],
    passes: float,
    s: float,
) -> Row:
    """Plausibility and faithfulness of unit scores (several ``draws`` are averaged)."""
    auprc, f1, comp, suff = [], [], [], []
    for scores in draws:
        pairs = [plausibility(unit_scores, m.gold) for unit_scores, m in zip(scores, marked, strict=True)]
        auprc.append(np.mean([a for a, _ in pairs]))
        f1.append(np.mean([b for _, b in pairs]))
        chosen = [top_units(unit_scores, m.marked) for unit_scores, m in zip(scores, marked, strict=True)]
        faith = faithfulness([m.text for m in marked], [m.units for m in marked], chosen, subject.probability)
        comp.append(faith.comprehensiveness)
        suff.append(faith.sufficiency)
    return Row(
        model=subject.name,
        explanation=name,
        auprc=round(float(np.mean(auprc)), 4),
        top_k_f1=round(float(np.mean(f1)), 4),
        comprehensiveness=round(float(np.mean(comp)), 4),
        sufficiency=round(float(np.mean(suff)), 4),
        passes_per_text=round(passes, 2),
        seconds=round(s, 4),
    )


def evaluate_explanations(
    csv_path: Path,
    model: ModerationModel | None,
    store: FeatureStore,
    draws: int = 5,
    limit: int | None = None,
    test_path: Path | None = None,
) -> ExplanationReport:
    """Train on the split's 80%, explain its evaluation set, measure every source of words.
    ``model``: whose text encoder the ``encoder+tfidf`` head reads (``None``: TF-IDF only);
    ``limit``: the first ``limit`` texts of the evaluation set only (a quick look);
    ``test_path``: a file held out elsewhere: train on all of ``csv_path``, explain that one."""
    rows = read_marked_csv(csv_path)
    if test_path is None:
        train, test = holdout([r.label for r in rows])
        split: dict[str, object] = {"protocol": "stratified hold-out", "test_fraction": 0.2, "seed": 0}
    else:  # the held-out rows follow the training rows, so one list indexes both
        held = read_marked_csv(test_path)
        train, test = list(range(len(rows))), list(range(len(rows), len(rows) + len(held)))
        rows = [*rows, *held]
        split = {"protocol": "separate test file", "test_rows": len(held)}
    marked, counts = evaluation_set(rows, test)
    marked = marked[:limit] if limit is not None else marked
    found: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        subjects, linear = _subjects(rows, train, Path(tmp), model, store)
        f1s = {s.name: _macro_f1(s, rows, test) for s in subjects}
        log.info("held-out macro-F1: %s; explaining %d texts", f1s, len(marked))
        baselines = {
            "random": [_random_scores(seed)(marked) for seed in range(draws)],
            "tfidf-weights": [_weights_scores(linear)(marked)],
        }
        for subject in subjects:
            for name, (method, passes) in subject.methods.items():
                started = time.monotonic()
                scores = method(marked)
                took = time.monotonic() - started
                mean_passes = float(np.mean([passes(m) for m in marked]))
                found.append(_row(subject, name, marked, [scores], mean_passes, took / max(1, len(marked))))
                log.info("%s / %s: %s", subject.name, name, found[-1])
            for name, draw in baselines.items():
                found.append(_row(subject, name, marked, draw, 0.0, 0.0))
    return ExplanationReport(
        data_rows=len(rows),
        split={**split, "train_rows": len(train)},
        evaluation_set={**counts, "evaluated": len(marked)},
        held_out_f1=f1s,
        rows=found,
    )


def report_lines(report: ExplanationReport) -> list[str]:
    """The report as a Markdown table, with the evaluation set's counts."""
    lines = [
        f"evaluation set: {report.evaluation_set['evaluated']} held-out biased sentences "
        f"({report.evaluation_set})",
        f"held-out macro-F1: {report.held_out_f1}",
        "",
        "| model | explanation | AUPRC | top-k F1 | comprehensiveness | sufficiency | passes/text | s/text |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.rows:
        lines.append(
            f"| {r.model} | {r.explanation} | {r.auprc:.3f} | {r.top_k_f1:.3f} | {r.comprehensiveness:.3f} "
            f"| {r.sufficiency:.3f} | {r.passes_per_text:g} | {r.seconds:.4f} |"
        )
    return lines
