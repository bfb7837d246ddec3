"""A fine-tuned bias model in the worker: its own pass in the micro-batch, its score
deciding the bias category (verdict bias.text_score), the fused head's kept beside it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.test_pipeline import post, run
from worker.config.classifiers import ClassifierSpec
from worker.finetune.recipe import FineTuneRecipe
from worker.finetune.run import FineTuneJob, run_fine_tune
from worker.model import ModerationModel

from .conftest import MakeSettings


@pytest.fixture(scope="module")
def bias_model(tiny_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ft-bias")
    with (root / "babe.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "biased_words"])
        for n in range(60):
            biased = n % 2 == 0
            writer.writerow([f"the {'outrageous' if biased else 'reported'} plan {n}", int(biased), "[]"])
    out = root / "bias"
    recipe = FineTuneRecipe(encoder=str(tiny_paths["text"]), epochs=1, batch_size=8, max_tokens=16)
    job = FineTuneJob(
        root / "babe.csv", "text", "label", {"1": "bias", "0": ""}, out, "bias", baselines=False
    )
    run_fine_tune(job, recipe)
    return out


async def test_the_text_bias_model_decides_the_bias_category(
    bias_model: Path, make_settings: MakeSettings
) -> None:
    spec = ClassifierSpec(kind="finetuned", source=str(bias_model), name="bias")
    model = ModerationModel.load(make_settings(classifiers=(spec,)))
    assert "classifier:bias" in model.identity.components
    assert "classify_text:bias" in model.encoder_ids
    publisher, _, _ = await run([post("p", text="the outrageous plan 1")], model)  # type: ignore[arg-type]
    verdict = publisher.on("verdicts")[0]
    expected = float(model.classify("classify_text:bias", ["the outrageous plan 1"])[0, 1])
    assert verdict["bias"]["text_score"] == pytest.approx(expected, abs=1e-5)
    assert verdict["bias"]["decided_by"] == "classifier:bias"
    assert verdict["category_scores"]["bias"] == pytest.approx(expected, abs=1e-5)
    assert "bias" not in verdict["untrained_categories"]  # the fused head is random; this is not
