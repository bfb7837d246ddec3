"""Trained category heads found in a folder (``MODERATION_CATEGORY_DIR``), e.g. a volume.

A deployment cannot ship trained category weights in its image; it mounts a volume
and fills it with heads trained on its own data (``train category NAME ... --out
DIR/NAME``). Each sub-folder holding a ``category.json`` becomes a
``{"kind": "head", "source": DIR/NAME}`` classifier, in name order, added to
``MODERATION_CLASSIFIERS``. A folder that is empty, absent or holds no head is not
an error: the worker runs without those categories and says what is missing
(:attr:`CategoryFolder.missing`, logged at start and shown by ``/readyz``).

Example::

    found = scan(Path("/models/categories"))
    found.specs       # (ClassifierSpec(kind="head", source="/models/categories/hate"), ...)
    found.missing     # () or ("no trained category heads in /models/categories: ...",)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings

__all__ = ["HEAD_FILE", "CategoryFolder", "scan", "with_category_dir"]

#: What makes a sub-folder a trained category head (see :mod:`worker.model.category_head`).
HEAD_FILE = "category.json"
_HOW = "train heads with `moderation-worker train category NAME ... --out {folder}/NAME` (docs/deployment.md)"


@dataclass(frozen=True)
class CategoryFolder:
    """The heads found in a folder, and what is missing there, one line each."""

    folder: Path | None
    specs: tuple[ClassifierSpec, ...] = ()
    missing: tuple[str, ...] = ()


def scan(folder: Path | None) -> CategoryFolder:
    """The category heads in ``folder`` (None: no folder configured, nothing missing)."""
    if folder is None:
        return CategoryFolder(None)
    how = _HOW.format(folder=folder)
    if not folder.is_dir():
        return CategoryFolder(folder, missing=(f"no trained categories: {folder} is not a folder; {how}",))
    subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    heads = [p for p in subfolders if (p / HEAD_FILE).is_file()]
    missing = [
        f"{p} is not a trained category head (no {HEAD_FILE}); it is skipped"
        for p in subfolders
        if p not in heads
    ]
    if not heads:
        missing.insert(0, f"no trained categories: {folder} holds no category head; {how}")
    specs = tuple(ClassifierSpec(kind="head", source=str(p)) for p in heads)
    return CategoryFolder(folder, specs, tuple(missing))


def with_category_dir(settings: Settings) -> tuple[Settings, CategoryFolder]:
    """``settings`` with the folder's heads added to its classifiers, and the scan itself."""
    found = scan(settings.category_dir)
    if not found.specs:
        return settings, found
    given = {spec.source for spec in settings.classifiers if spec.kind == "head"}
    added = tuple(spec for spec in found.specs if spec.source not in given)
    return settings.model_copy(update={"classifiers": (*settings.classifiers, *added)}), found
