"""`settings --check`: what `run` checks at start, without (or with --load) the model weights,
one line per problem, exit 1 on any."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moderation_lab.tiny_models import build_tiny_models
from typer.testing import CliRunner

from worker.cli import app
from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings
from worker.startup.check import check_settings, hf_config_labels

NSFW = '[{"kind": "nsfw"}]'


@pytest.fixture(autouse=True)
def _clean_environment() -> Iterator[None]:
    """No MODERATION_* of the machine running the tests leaks into the checks."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("MODERATION_")]:
            patch.delenv(name)
        yield


def _check(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["settings", "--check", *args], env=env)
    lines = result.output.splitlines()
    return result.exit_code, lines[lines.index("") + 1 :] if "" in lines else lines


def _head(folder: Path, classes: tuple[str, ...], categories: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    config = {"name": folder.name, "inputs": "text", "classes": list(classes), "categories": categories}
    (folder / "category.json").write_text(json.dumps(config | {"feature_ids": {"text": "t-123"}}))
    return folder


def _hf(folder: Path, id2label: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps({"architectures": ["BertForSequenceClassification"], "id2label": id2label})
    )
    return folder


def test_the_readme_classifier_checks_and_prints_as_json() -> None:
    code, lines = _check({"MODERATION_CLASSIFIERS": NSFW})
    assert code == 0, lines
    assert lines[-1] == "no problem found"
    assert any(line.startswith("unchecked: the encoders") and "--load" in line for line in lines)
    table = CliRunner().invoke(app, ["settings", "--check"], env={"MODERATION_CLASSIFIERS": NSFW}).output
    row = next(line for line in table.splitlines() if line.startswith("MODERATION_CLASSIFIERS"))
    assert json.loads(row.split(None, 1)[1].rsplit("  (", 1)[0])[0]["kind"] == "nsfw"
    assert row.endswith("(set)")


def test_a_misspelt_policy_category_is_one_problem_and_exit_1() -> None:
    env = {"MODERATION_CLASSIFIERS": NSFW, "MODERATION_POLICY": '{"hat": {"threshold": 0.5}}'}
    code, lines = _check(env)
    assert code == 1
    problems = [line for line in lines if line.startswith("problem: ")]
    assert len(problems) == 1 and "unknown categories ['hat']" in problems[0] and "'nudity'" in problems[0]
    assert lines[-1] == "1 problem(s): `run` would refuse to start"
    fixed = _check({**env, "MODERATION_POLICY": '{"nudity": {"threshold": 0.9}}'})
    assert fixed[0] == 0


def test_labels_come_from_config_files_and_each_problem_is_one_line(tmp_path: Path) -> None:
    head = _head(tmp_path / "hate", ("0", "1", "2"), {"0": "hate", "1": "offensive"})
    hf = _hf(tmp_path / "toxic", {"0": "ok", "1": "toxic"})
    specs = [
        ClassifierSpec(kind="head", source=str(head)),
        ClassifierSpec(kind="hf", source=str(hf), labels={"toxic": "toxicity"}),
    ]
    good = Settings(
        classifiers=tuple(specs), policy={"hate": {"threshold": 0.7}, "toxicity": {"threshold": 0.8}}
    )
    report = check_settings(good)
    assert report.problems == [] and {"hate", "offensive", "toxicity"} <= report.categories
    assert any("classifier:hate: trained on the encoders" in line for line in report.unchecked)
    bad = [
        ClassifierSpec(kind="head", source=str(head), labels={"3": "spam"}),
        ClassifierSpec(kind="hf", source=str(hf), labels={"toxix": "toxicity"}),
        ClassifierSpec(kind="head", source=str(tmp_path / "nowhere")),
    ]
    report = check_settings(Settings(classifiers=tuple(bad), policy={"hat": {"threshold": 0.5}}))
    assert len(report.problems) == 4, report.problems
    assert "classes ['3'] unknown" in report.problems[0]
    assert "labels ['toxix'] are not the model's; it has ['ok', 'toxic']" in report.problems[1]
    assert "no category head here" in report.problems[2]
    assert "unknown categories ['hat']" in report.problems[3]
    assert all("\n" not in line for line in report.problems)


def test_a_model_not_at_hand_is_named_as_unchecked_not_guessed(tmp_path: Path) -> None:
    spec = ClassifierSpec(kind="hf", source="some-org/never-downloaded-classifier")
    assert hf_config_labels(spec.source) is None
    report = check_settings(Settings(classifiers=(spec,), policy={"toxicity": {"threshold": 0.5}}))
    assert report.problems == []
    assert any("never-downloaded-classifier" in line for line in report.unchecked)
    assert any("MODERATION_POLICY names ['toxicity']" in line for line in report.unchecked)


def test_the_shadow_settings_are_checked(tmp_path: Path) -> None:
    report = check_settings(Settings(shadow_model_dir=tmp_path))
    assert len(report.problems) == 1 and "has no text or image/" in report.problems[0]


def test_set_applies_to_the_check_and_is_shown_as_set() -> None:
    code, _ = _check({}, "--set", 'policy={"hat": {"threshold": 0.5}}')
    assert code == 1
    result = CliRunner().invoke(app, ["settings", "--check", "--set", "max_batch=4"])
    row = next(line for line in result.output.splitlines() if line.startswith("MODERATION_MAX_BATCH "))
    assert row.split()[1:] == ["4", "(set)"]


@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    paths = build_tiny_models(tmp_path_factory.mktemp("tiny-models"))
    return {
        "MODERATION_TEXT_ENCODER": str(paths["text"]),
        "MODERATION_IMAGE_ENCODER": str(paths["image"]),
        "MODERATION_CLIP_MODEL": "",
        "MODERATION_DEVICE": "cpu",
        "MODERATION_PRECISION": "fp32",
    }


def test_load_loads_the_models_as_run_does(tiny_env: dict[str, str], tmp_path: Path) -> None:
    code, lines = _check({**tiny_env, "MODERATION_CLASSIFIERS": NSFW}, "--load")
    assert code == 0, lines
    assert lines[-2:] == [
        "loaded: every model, as `run` loads them, and the policy fits their categories",
        "no problem found",
    ]
    assert not any(line.startswith("unchecked:") for line in lines)
    missing = {**tiny_env, "MODERATION_TEXT_ENCODER": str(tmp_path / "no-such-encoder")}
    assert _check(missing)[0] == 0  # without --load, the encoders are left unchecked ...
    code, lines = _check(missing, "--load")  # ... with it, `run`'s own error
    assert code == 1 and len([line for line in lines if line.startswith("problem: ")]) == 1
