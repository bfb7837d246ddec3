"""The text report of a category head's training: CV figures, baselines, confusion, minutes.

Example::

    for line in category_lines(record, "train.csv"):
        print(line)
"""

from __future__ import annotations

from worker.training.category import CategoryRecord
from worker.training.metrics import Report, confusion_text

__all__ = ["category_lines", "figures"]


def figures(report: Report) -> str:
    per_class = ", ".join(f"{label} {m.f1:.3f}" for label, m in report.per_class.items())
    return f"macro-F1 {report.macro_f1:.3f} (per-class F1: {per_class})"


def category_lines(record: CategoryRecord, data_name: str) -> list[str]:
    inputs = record.config.inputs if record.config else "text"
    lines = [
        f"category head {record.name!r} on {inputs}: {record.examples} examples, classes {record.classes}"
    ]
    if record.images_found is not None:
        lines.append(f"images: {record.images_found}")
    if record.normaliser is not None:
        lines.append(f"TF-IDF reads the normalised text ({record.normaliser})")
    if record.left_out:
        why = ", ".join(f"{n} {reason}" for reason, n in record.left_out.items())
        lines.append(f"rows left out ({why}): the worker gives this head no say on such posts")
    if record.cv is None:
        lines.append("no cross-validation (--cv 0)")
    else:
        folds = "cross-validation on " + data_name
        lines += [f"{folds}: {figures(record.cv)}", confusion_text(record.cv)]
        for name, report in record.baselines.items():
            lines.append(f"baseline, {name}, same folds: {figures(report)}")
    lines += list(record.decision.get("lines", []))
    minutes = ", ".join(f"{k} {v:.1f}" for k, v in record.minutes.items())
    lines.append(f"minutes: {minutes}")
    return lines
