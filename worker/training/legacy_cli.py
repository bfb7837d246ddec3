"""The spellings of ``train`` and ``evaluate`` from before their subcommands, rewritten to
the new ones (kept for one release; the group prints a deprecation line on stderr).

- ``train --category NAME DATA ...`` -> ``train category NAME DATA ...``
- ``train --entailment CSV [--val V] [--bias B --bias-val W] ...`` -> ``train entailment CSV ...``
- ``train --bias CSV [--bias-val V] ...`` -> ``train bias CSV [--val V] ...``
- ``evaluate --heads DIR --data CSV ...`` -> ``evaluate category|entailment|bias ...``

Example::

    legacy_train_args(["--bias", "b.csv", "--bias-val", "v.csv", "--out", "h"])
    # (["bias", "b.csv", "--val", "v.csv", "--out", "h"], "train --bias CSV")
"""

from __future__ import annotations

import csv
from pathlib import Path

__all__ = ["legacy_evaluate_args", "legacy_train_args"]


def _take(args: list[str], option: str) -> tuple[str | None, list[str]]:
    """The value of ``option`` (``--x V`` or ``--x=V``) and the arguments without it."""
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1], args[:i] + args[i + 2 :]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1], args[:i] + args[i + 1 :]
    return None, args


def _rename(args: list[str], old: str, new: str) -> list[str]:
    return [new if a == old else new + a[len(old) :] if a.startswith(old + "=") else a for a in args]


def legacy_train_args(args: list[str]) -> tuple[list[str], str] | None:
    """``train``'s old arguments in the new shape, with the old spelling; ``None``: not old."""
    category, rest = _take(args, "--category")
    if category is not None:
        return ["category", category, *rest], "--category NAME DATA"
    entailment, rest = _take(args, "--entailment")
    if entailment is not None:
        return ["entailment", entailment, *rest], "--entailment CSV"
    bias, rest = _take(args, "--bias")
    if bias is not None:
        return ["bias", bias, *_rename(rest, "--bias-val", "--val")], "--bias CSV"
    if args[0].startswith("-"):  # plain `train --out ...`: it trained the entailment head
        return ["entailment", *args], "--out ..."
    return None


def legacy_evaluate_args(args: list[str]) -> tuple[list[str], str] | None:
    """``evaluate``'s old arguments with the kind of model in front: a category head by its
    folder, else the heads' task by the CSV's columns (as the old command decided)."""
    if not args[0].startswith("-"):
        return None
    heads, _ = _take(args, "--heads")
    data, _ = _take(args, "--data")
    kind = "entailment"
    if heads is not None and (Path(heads) / "category.json").is_file():
        kind = "category"
    elif data is not None and {"text", "image_url", "label"} <= _header(Path(data)):
        kind = "bias"
    return [kind, *args], "--heads DIR --data CSV"


def _header(path: Path) -> set[str]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return set(next(csv.reader(handle), []))
    except (OSError, UnicodeDecodeError, csv.Error):
        return set()  # the subcommand reports the file as it reports any unreadable CSV
