"""Bring your own classifier: Hugging Face (text and image) and ONNX (text and image) models.

The models are tiny ones built here from configs (random weights), so the tests
prove the plumbing: labels mapped to categories, outputs equal to the model's own
forward pass, batching, the untrained marker, and the verdict fields.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from tests.model.conftest import MakeSettings
from tests.test_pipeline import post, run
from worker.config.classifiers import ClassifierSpec, ImageInput
from worker.errors import ConfigError
from worker.model import ModerationModel
from worker.model.classifiers.group import ClassifierGroup, load_classifier
from worker.model.classifiers.onnx import image_tensor
from worker.model.untrained import UNTRAINED_MARKER


def tiny_text_classifier(folder: Path, tiny_text: Path) -> Path:
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_text)
    config = transformers.BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
        id2label={0: "ok", 1: "toxic"},
        label2id={"ok": 0, "toxic": 1},
    )
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def tiny_image_classifier(folder: Path, tiny_image: Path) -> Path:
    config = transformers.ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        num_labels=3,
        id2label={0: "cat", 1: "dog", 2: "gun"},
        label2id={"cat": 0, "dog": 1, "gun": 2},
    )
    torch.manual_seed(0)
    transformers.ResNetForImageClassification(config).save_pretrained(folder)
    transformers.AutoImageProcessor.from_pretrained(tiny_image).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hf_folders(tiny_paths: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf-classifiers")
    return {
        "text": tiny_text_classifier(root / "text", tiny_paths["text"]),
        "image": tiny_image_classifier(root / "image", tiny_paths["image"]),
    }


def test_a_hf_text_classifier_answers_as_its_own_forward_pass(hf_folders: dict[str, Path]) -> None:
    spec = ClassifierSpec(kind="hf", source=str(hf_folders["text"]), labels={"toxic": "toxicity", "ok": ""})
    classifier = load_classifier(spec)
    assert classifier.modality == "text" and classifier.labels == ("ok", "toxic")
    texts = ["you are awful", "have a nice day, friend"]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(hf_folders["text"]).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(hf_folders["text"])
    with torch.inference_mode():
        expected = [
            torch.softmax(model(**tokenizer(t, return_tensors="pt")).logits, -1)[0].numpy() for t in texts
        ]
    np.testing.assert_allclose(
        classifier.predict(texts), np.stack(expected), atol=1e-5
    )  # padded batch == one by one
    assert ClassifierGroup([(spec, classifier)]).category_names == {"toxicity"}


def test_a_label_map_naming_a_label_the_model_lacks_is_an_error(hf_folders: dict[str, Path]) -> None:
    spec = ClassifierSpec(kind="hf", source=str(hf_folders["text"]), labels={"toxik": "toxicity"})
    with pytest.raises(ConfigError, match="toxik"):
        ClassifierGroup([(spec, load_classifier(spec))])


async def test_hf_image_classifier_in_the_worker(
    hf_folders: dict[str, Path], make_settings: MakeSettings, tmp_path: Path
) -> None:
    spec = ClassifierSpec(
        kind="hf", source=str(hf_folders["image"]), name="objects", labels={"gun": "weapons"}
    )
    model = ModerationModel.load(make_settings(classifiers=(spec,)))
    assert model.category_names == {"weapons"}
    assert "classify_image:objects" in model.encoder_ids
    publisher, _, _ = await run([post("p", images=["https://img.test/ok/40x30.png"])], model)  # type: ignore[arg-type]
    [verdict] = publisher.on("verdicts")
    red = Image.new("RGB", (40, 30), (200, 10, 10))
    expected = float(model.classify("classify_image:objects", [red])[0, 2])
    assert verdict["category_scores"]["weapons"] == pytest.approx(expected, abs=1e-6)
    assert verdict["category_applied_input_types"]["weapons"] == ["image"]
    assert "weapons" not in verdict["untrained_categories"]
    # the same folder marked as random weights: scored, never flagging
    (hf_folders["image"] / UNTRAINED_MARKER).write_text("random")
    try:
        marked = ModerationModel.load(make_settings(classifiers=(spec,)))
        assert "classifier:objects" in marked.identity.untrained
    finally:
        (hf_folders["image"] / UNTRAINED_MARKER).unlink()


def test_an_onnx_image_classifier_with_its_preprocessing(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(2, 3)).astype(np.float32), np.array([0.1, -0.1], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["pixels"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "w", "b"], ["logits"], transB=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 2])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "tiny.onnx"
    path.write_bytes(model.SerializeToString())
    how = ImageInput(size=32)
    spec = ClassifierSpec(kind="onnx", source=str(path), softmax=True, labels={"1": "odd"}, image=how)
    classifier = load_classifier(spec)
    assert classifier.modality == "image" and classifier.labels == ("0", "1")
    images = [Image.new("RGB", (50, 40), (200, 10, 10)), Image.new("RGB", (20, 60), (10, 10, 250))]
    logits = image_tensor(images, how).mean(axis=(2, 3)) @ weight.T + bias
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(classifier.predict(images), expected, atol=1e-5)


def test_an_onnx_text_pipeline_reads_the_texts(tmp_path: Path) -> None:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["win a prize now", "free money", "see you at lunch", "meeting on monday"] * 5
    labels = [1, 1, 0, 0] * 5
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("text", StringTensorType([None, 1]))],
        options={id(pipeline[-1]): {"zipmap": False}, id(pipeline[0]): {"locale": "C.UTF-8"}},
    )
    path = tmp_path / "spam.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    spec = ClassifierSpec(kind="onnx", source=str(path), labels={"1": "spam", "0": ""})
    classifier = load_classifier(spec)
    assert classifier.modality == "text"
    queries = ["free prize", "lunch on monday"]
    np.testing.assert_allclose(classifier.predict(queries), pipeline.predict_proba(queries), atol=1e-4)
    with pytest.raises(ConfigError, match="reads texts"):
        load_classifier(spec.model_copy(update={"modality": "image"}))
