"""Loading models writes no progress bars and no multi-line reports: one log line at most."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from transformers import AutoConfig, BertModel, ResNetForImageClassification
from transformers.utils import logging as hf_logging

from worker.config.settings import Settings
from worker.model import ModerationModel
from worker.model.checkpoint import load_auto_model

MakeSettings = Callable[..., Settings]


def test_loading_draws_no_progress_bars(
    make_settings: MakeSettings, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    ModerationModel.load(make_settings())
    err = capfd.readouterr().err
    assert "Loading weights" not in err
    assert "\r" not in err


def test_unused_weights_are_one_info_line(
    tiny_paths: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # As microsoft/resnet-34: a classification checkpoint loaded as a bare encoder.
    config = AutoConfig.from_pretrained(tiny_paths["image"], num_labels=3)
    ResNetForImageClassification(config).save_pretrained(tmp_path / "resnet")
    verbosity = hf_logging.get_verbosity()
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="worker.model.checkpoint"):
        load_auto_model(str(tmp_path / "resnet"), weights=True)
    assert "LOAD REPORT" not in capfd.readouterr().err
    [record] = [r for r in caplog.records if r.name == "worker.model.checkpoint"]
    assert record.levelno == logging.INFO
    assert "2 checkpoint weights not used: classifier.1.bias, classifier.1.weight" in record.getMessage()
    assert "\n" not in record.getMessage()
    assert hf_logging.get_verbosity() == verbosity


def test_missing_weights_are_one_warning_line(
    tiny_paths: dict[str, Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # A BERT saved without its pooler, loaded as the card's BERT (with pooler).
    config = AutoConfig.from_pretrained(tiny_paths["text"])
    BertModel(config, add_pooling_layer=False).save_pretrained(tmp_path / "bert")
    capfd.readouterr()
    with caplog.at_level(logging.INFO, logger="worker.model.checkpoint"):
        load_auto_model(str(tmp_path / "bert"), weights=True)
    assert "LOAD REPORT" not in capfd.readouterr().err
    [record] = [r for r in caplog.records if r.name == "worker.model.checkpoint"]
    assert record.levelno == logging.WARNING
    assert "2 weights not in the checkpoint" in record.getMessage()
    assert "pooler.dense.weight" in record.getMessage()
