"""Figures for people: the lines ``train`` and ``evaluate`` print.

Every score is printed beside its baselines, and per-class recall beside
macro-F1, because accuracy alone means nothing on these classes.

Example::

    for line in summary_lines(record):
        print(line)
"""

from __future__ import annotations

from worker.training.evaluate import Evaluation
from worker.training.metrics import Report, confusion_text
from worker.training.record import TaskRecord, TrainingRecord

__all__ = ["evaluation_lines", "summary_lines", "task_lines"]


def summary_lines(record: TrainingRecord) -> list[str]:
    """What a training run measured, and how long it took."""
    seconds = record.seconds
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items() if k != "total")
    lines = [
        f"encoders: text {record.text_encoder} ({record.config.text_pooling} pooling), "
        f"image {record.image_encoder}",
        f"images: {record.images}",
        f"wall time: {seconds.get('total', 0.0):.1f}s ({steps})",
    ]
    for name, task in (("entailment", record.entailment), ("bias", record.bias)):
        if task is not None:
            lines += [f"--- {name} head ---", *task_lines(task)]
    return lines


def task_lines(task: TaskRecord) -> list[str]:
    """Cross-validation against its baselines, then the validation split."""
    lines = []
    cv = task.cross_validation
    if cv is not None:
        lines.append(
            f"{cv.folds}-fold CV macro-F1 {cv.report.macro_f1:.3f} "
            f"(folds {', '.join(f'{s:.2f}' for s in cv.fold_macro_f1)}; best epochs {cv.best_epochs})"
        )
        lines.append(f"  {_recalls(cv.report)}")
        if cv.mlp_alone_macro_f1 is not None:
            lines.append(
                f"  the head's MLP alone, without its lexical trees: macro-F1 {cv.mlp_alone_macro_f1:.3f}"
            )
        if task.cv_linear_probe is not None:
            lines.append(f"  baseline linear probe on frozen text features: {_brief(task.cv_linear_probe)}")
        if task.cv_majority is not None:
            lines.append(f"  baseline majority class: {_brief(task.cv_majority)}")
    lines.append(f"final training: best epoch {task.best_epoch} of {task.epochs_run}")
    if not task.uses_images:
        lines.append("  no training example had an image: the head ignores images (text-only verdicts)")
    if task.validation is not None:
        lines.append(f"validation: {_brief(task.validation)}")
        lines.append(f"  {_recalls(task.validation)}")
        if task.validation_majority is not None:
            lines.append(f"  baseline majority class: {_brief(task.validation_majority)}")
    return lines


def evaluation_lines(result: Evaluation) -> list[str]:
    lines = [
        f"{result.task} on {result.data.path} ({result.data.rows} rows, {result.unscored} unscored)",
        f"images: {result.images}",
        f"decision: {result.decision}",
        f"result: {_brief(result.metrics)}",
        *_role_warning(result.data_role),
        f"  {_recalls(result.metrics)}",
        f"  {_precisions(result.metrics)}",
        f"baseline majority class: {_brief(result.majority_baseline)}",
        confusion_text(result.metrics),
    ]
    if result.cross_validation is not None:
        lines += ["--- the checkpoint's recipe in cross-validation on this CSV ---"]
        lines += task_lines(result.cross_validation)
    return lines


def _role_warning(role: str) -> list[str]:
    if role == "training":
        return [
            "  WARNING: the heads were trained on this CSV, so this figure says how well they fit it; "
            "the cross-validated figure (--cv) is the one that measures learning"
        ]
    if role != "unseen":
        return [f"  note: training used this CSV for {role}, so the figure is slightly optimistic"]
    return []


def _brief(report: Report) -> str:
    return f"macro-F1 {report.macro_f1:.3f}, accuracy {report.accuracy:.3f} ({report.examples} examples)"


def _recalls(report: Report) -> str:
    return "recall: " + ", ".join(f"{k} {m.recall:.2f}" for k, m in report.per_class.items())


def _precisions(report: Report) -> str:
    return "precision: " + ", ".join(f"{k} {m.precision:.2f}" for k, m in report.per_class.items())
