"""A head trained with train --category, put in the models volume, is loaded from there."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.training.test_category import spam_head  # noqa: F401 - the trained head, as a fixture
from worker.config.policy import CategoryRule
from worker.model import ModerationModel
from worker.model.heads import HeadsConfig
from worker.startup.check import check_settings

from .conftest import MakeSettings


def test_a_head_in_the_category_dir_is_a_category_of_the_worker(
    spam_head: tuple[Path, str],  # noqa: F811
    make_settings: MakeSettings,
    tmp_path: Path,
) -> None:
    volume = tmp_path / "categories"
    shutil.copytree(spam_head[0], volume / "spam")
    model = ModerationModel.load(
        make_settings(category_dir=volume), fresh_heads=HeadsConfig(text_links="strip")
    )
    assert "spam" in model.category_names
    assert "classifier:spam" in model.identity.components
    empty = ModerationModel.load(make_settings(category_dir=tmp_path / "empty"), fresh_heads=HeadsConfig())
    assert "spam" not in empty.category_names


def test_settings_check_reads_the_heads_in_the_category_dir(
    spam_head: tuple[Path, str],  # noqa: F811
    make_settings: MakeSettings,
    tmp_path: Path,
) -> None:
    """`settings --check` sees the volume's heads as `run` does: a rule for their category passes."""
    volume = tmp_path / "categories"
    shutil.copytree(spam_head[0], volume / "spam")
    report = check_settings(make_settings(category_dir=volume, policy={"spam": CategoryRule(threshold=0.7)}))
    assert report.problems == [] and "spam" in report.categories
    empty = check_settings(make_settings(category_dir=tmp_path / "empty", policy={"spam": CategoryRule()}))
    assert any("spam" in problem for problem in empty.problems)
