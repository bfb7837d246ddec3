"""``demo`` adds nudity always, and hate/offensive (trained once) when the data is here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from moderation_lab.demo.categories import BIAS_FOLDER, FAST_RECIPE_CV, HATE_FOLDER, demo_categories
from moderation_lab.demo.run import flag_summary
from moderation_lab.embedded.kafka_io import Record

from worker.config.classifiers import ClassifierSpec
from worker.config.settings import Settings
from worker.model import ModerationModel

ROWS = [("you people are vermin", "0"), ("this game is shit lol", "1"), ("lovely weather today", "2")]


def test_without_the_data_only_nudity(tmp_path: Path) -> None:
    said: list[str] = []
    overrides = demo_categories(None, tmp_path, said.append)
    assert json.loads(str(overrides["classifiers"])) == [{"kind": "nsfw"}]
    assert said and "nudity" in said[0]


def test_trains_hate_offensive_once_and_the_worker_loads_it(
    tmp_path: Path, tiny_paths: dict[str, Path]
) -> None:
    data = tmp_path / "data" / "hate-offensive"
    data.mkdir(parents=True)
    with open(data / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"])
        for i in range(30):
            text, label = ROWS[i % 3]
            writer.writerow([i, 3, 0, 0, 0, label, f"{text} {i % 4}"])
    said: list[str] = []
    overrides = demo_categories(tmp_path / "data", tmp_path / "models", said.append)
    folder = tmp_path / "models" / HATE_FOLDER
    assert json.loads(str(overrides["classifiers"]))[1] == {"kind": "head", "source": str(folder)}
    trained_at = (folder / "category.json").stat().st_mtime_ns
    demo_categories(tmp_path / "data", tmp_path / "models", said.append)
    trained = [line for line in said if line.startswith("training")]
    assert (folder / "category.json").stat().st_mtime_ns == trained_at and len(trained) == 1
    settings = Settings(
        text_encoder=str(tiny_paths["text"]),
        image_encoder=str(tiny_paths["image"]),
        clip_model="",
        classifiers=(ClassifierSpec(kind="head", source=str(folder)),),
    )
    assert ModerationModel.load(settings).category_names == {"hate", "offensive"}


def test_trains_the_bias_category_on_babe_columns_and_it_is_real(
    tmp_path: Path, tiny_paths: dict[str, Path]
) -> None:
    data = tmp_path / "data" / "media-bias"
    data.mkdir(parents=True)
    with open(data / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "biased_words"])
        for i in range(30):
            biased = i % 2 == 0
            text = "the outrageous radical scheme" if biased else "the committee met on tuesday"
            writer.writerow([f"{text} {i}", int(biased), "['outrageous']" if biased else "[]"])
    said: list[str] = []
    overrides = demo_categories(tmp_path / "data", tmp_path / "models", said.append)
    folder = tmp_path / "models" / BIAS_FOLDER
    assert {"kind": "head", "source": str(folder)} in json.loads(str(overrides["classifiers"]))
    settings = Settings(
        text_encoder=str(tiny_paths["text"]),
        image_encoder=str(tiny_paths["image"]),
        clip_model="",
        classifiers=(ClassifierSpec(kind="head", source=str(folder)),),
    )
    model = ModerationModel.load(settings)
    assert model.category_names == {"bias"}
    # TF-IDF alone reads no random encoder: the head's parts are all trained, so it can flag
    assert not any(part.startswith("classifier") for part in model.identity.untrained)


def test_the_summary_quotes_the_hate_recipe_only_when_the_category_ran() -> None:
    def verdicts(*scores: dict[str, float]) -> list[Record]:
        values = [
            {"post_id": f"p{i}", "flagged": False, "categories": {k: False for k in s}, "category_scores": s}
            for i, s in enumerate(scores)
        ]
        return [Record("verdicts", 0, i, 0, None, json.dumps(v).encode()) for i, v in enumerate(values)]

    without = flag_summary(verdicts({"nudity": 0.1}, {"nudity": 0.0}), "verdicts")
    assert without == "flagged 0/2 posts; by category: none."
    with_hate = flag_summary(verdicts({"nudity": 0.1, "hate": 0.2, "offensive": 0.3}), "verdicts")
    assert with_hate.startswith("flagged 0/1 posts; by category: none. hate/offensive recipe here:")
    assert f"macro-F1 {FAST_RECIPE_CV[0]:.3f}" in with_hate
