"""Trained category heads found in a folder (a models volume): what is loaded, what is missing."""

from __future__ import annotations

from pathlib import Path

from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings
from worker.model.category_dir import HEAD_FILE, scan, with_category_dir


def head(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / HEAD_FILE).write_text("{}")
    return folder


def test_no_folder_configured_means_nothing_missing() -> None:
    found = scan(None)
    assert found.specs == () and found.missing == ()


def test_an_empty_or_absent_folder_is_said_missing_not_an_error(tmp_path: Path) -> None:
    for folder in (tmp_path, tmp_path / "absent"):
        found = scan(folder)
        assert found.specs == ()
        [line] = found.missing
        assert line.startswith("no trained categories: ") and str(folder) in line
        assert "train category" in line and "\n" not in line


def test_each_head_folder_becomes_a_head_classifier_in_name_order(tmp_path: Path) -> None:
    spam, hate = head(tmp_path / "spam"), head(tmp_path / "hate")
    (tmp_path / "notes").mkdir()  # not a head: skipped, and said so
    (tmp_path / ".staging").mkdir()  # hidden: ignored (e.g. a copy in progress)
    found = scan(tmp_path)
    assert found.specs == (
        ClassifierSpec(kind="head", source=str(hate)),
        ClassifierSpec(kind="head", source=str(spam)),
    )
    assert found.missing == (
        f"{tmp_path / 'notes'} is not a trained category head (no {HEAD_FILE}); it is skipped",
    )


def test_the_folder_adds_to_the_classifiers_without_repeating_one(tmp_path: Path) -> None:
    hate, spam = head(tmp_path / "hate"), head(tmp_path / "spam")
    nsfw = ClassifierSpec(kind="nsfw")
    given = ClassifierSpec(kind="head", source=str(hate))
    settings, found = with_category_dir(Settings(category_dir=tmp_path, classifiers=(nsfw, given)))
    assert settings.classifiers == (nsfw, given, ClassifierSpec(kind="head", source=str(spam)))
    assert len(found.specs) == 2
    unchanged, _ = with_category_dir(Settings(category_dir=tmp_path / "empty"))
    assert unchanged.classifiers == ()
