"""A fine-tuned folder is served as an added classifier: ONNX (int8 where it agrees),
calibrated by its temperature, its categories from its own label map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from worker.config.classifiers import ClassifierSpec
from worker.finetune.engine import pad_batch, tokenize
from worker.finetune.export import export_onnx
from worker.finetune.model import load_model, read_config
from worker.finetune.recipe import FineTuneRecipe
from worker.finetune.run import FineTuneJob, run_fine_tune
from worker.model.classifiers.finetuned import FineTunedClassifier
from worker.model.classifiers.group import ClassifierGroup
from worker.model.onnx_export import INT8_RECIPES, int8_recipe

pytest.importorskip("onnxruntime")

TEXTS = [
    "the senator outrageous the plan",
    "the senator said the plan number 4 and then a much longer tail of ordinary words follows here",
    "radical",
]


@pytest.fixture(scope="module")
def trained(small_csv: Path, tiny_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("served") / "bias-tiny"
    recipe = FineTuneRecipe(encoder=str(tiny_encoder), epochs=1, batch_size=8, max_tokens=24)
    lines = run_fine_tune(
        FineTuneJob(small_csv, "text", "label", {"1": "bias", "0": ""}, out, "bias"), recipe
    )
    assert any("macro-F1" in line for line in lines) and any("MODERATION_POLICY" in line for line in lines)
    export_onnx(out, texts=TEXTS * 3)
    return out


def test_the_recipe_split_and_figures_travel_with_the_weights(trained: Path) -> None:
    config = read_config(trained)
    assert config.recipe.class_weight_power == 0.5 and config.recipe.normaliser
    assert config.data["split"]["test_fraction"] == 0.2 and config.data["split"]["seed"] == 0
    assert {"fine_tuned", "tfidf", "frozen", "frozen+tfidf"} <= set(config.figures["test"])
    assert config.decision["temperature"] > 0 and "bias" in config.decision["categories"]
    assert config.onnx["fp32_agreement"]["max_abs_diff"] < 1e-4


def test_the_onnx_file_answers_as_torch_at_any_batch_and_length(trained: Path) -> None:
    import onnxruntime as ort

    model, tokenizer, config = load_model(trained)
    session = ort.InferenceSession(str(trained / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch in ([TEXTS[0]], TEXTS, TEXTS[1:] * 5):
        ids, mask = pad_batch(tokenize(tokenizer, batch, config.recipe.max_tokens), 0)
        with torch.inference_mode():
            expected = model(ids, mask).numpy()
        got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_served_scores_are_the_calibrated_model_and_its_categories(trained: Path) -> None:
    group = ClassifierGroup.load([ClassifierSpec(kind="finetuned", source=str(trained), name="bias")])
    assert group.kinds == ["classify_text:bias"] and group.category_names == {"bias"}
    served = group.predict("classify_text:bias", TEXTS)
    torch_clf = FineTunedClassifier(trained, "classifier:bias", backend="torch")
    np.testing.assert_allclose(served, torch_clf.predict(TEXTS), atol=0.02)  # int8 or fp32 ONNX vs torch
    model, tokenizer, config = load_model(trained)
    ids, mask = pad_batch(tokenize(tokenizer, TEXTS, config.recipe.max_tokens), 0)
    with torch.inference_mode():
        calibrated = torch.softmax(model(ids, mask) / config.decision["temperature"], dim=-1).numpy()
    np.testing.assert_allclose(torch_clf.predict(TEXTS), calibrated, atol=1e-5)
    # the cache id moves with what changes outputs (weights, temperature, normaliser, backend)
    ids_ = group.encoder_ids(lambda sha, pre: f"{sha[:8]}:{sorted(pre.items())}")
    assert "temperature" in ids_["classify_text:bias"] and "normaliser" in ids_["classify_text:bias"]


def test_settings_check_reads_a_fine_tuned_folders_categories(trained: Path) -> None:
    from worker.config.settings import Settings
    from worker.startup.check import check_settings

    spec = ClassifierSpec(kind="finetuned", source=str(trained), name="bias")
    report = check_settings(Settings(classifiers=(spec,), policy={"bias": {"threshold": 0.4}}))
    assert "bias" in report.categories and not report.problems


def test_int8_is_exported_in_both_recipes_and_served_in_this_cpus(trained: Path) -> None:
    """Signed int8 weights saturate on CPUs without VNNI: a folder carries both recipes, each
    with its agreement, and the worker opens the one of the CPU it runs on (any CPU)."""
    onnx = read_config(trained).onnx
    assert set(onnx["int8"]) == set(INT8_RECIPES.values())
    for recipe, entry in onnx["int8"].items():
        assert (trained / entry["file"]).is_file() and recipe in entry["file"]
        assert entry["usable"] == (entry["agreement"]["decisions"] >= 0.99)
    forced = FineTunedClassifier(trained, "classifier:bias", backend="int8")
    assert forced.backend == "onnx-int8" and forced._onnx_file == onnx["int8"][int8_recipe()]["file"]
    served = FineTunedClassifier(trained, "classifier:bias")
    mine = onnx["int8"][int8_recipe()]
    assert served.backend == ("onnx-int8" if mine["usable"] else "onnx-fp32")
