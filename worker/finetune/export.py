"""A fine-tuned folder's encoder + head as ONNX: fp32, and int8 where it keeps agreement.

``model.onnx`` takes ``input_ids`` and ``attention_mask`` (int64, [batch, tokens]) and
gives ``logits`` ([batch, classes]). ``model.int8-RECIPE.onnx`` are onnxruntime's dynamic
int8 quantizations of it (weights int8, activations quantized per batch), one per recipe
of :data:`~worker.model.onnx_export.INT8_RECIPES`: signed weights for CPUs whose int8 sums
do not saturate (AVX512-VNNI, AMX), unsigned for the others, so that a model trained on
one kind of CPU is served in int8 on the other. Each file is only marked usable when, on
the exporting machine, its decisions agree with fp32 torch on sample texts: the most
probable class, and each category's flag at the chosen threshold, on at least
``AGREEMENT`` of them (signed weights measured on a CPU that saturates are marked
unusable: conservative). The worker takes the file of its own CPU's recipe. What was
measured goes into ``finetune.json`` (``onnx``).

Example::

    lines = export_onnx(Path(".models/bias-minilm"), texts=sample)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch

from worker.errors import ModelError
from worker.finetune.engine import pad_batch, predict_proba, tokenize
from worker.finetune.model import PooledClassifier, load_model, write_config
from worker.finetune.text import prepare
from worker.model.onnx_export import INT8_RECIPES, OPSET, quantize_int8

__all__ = ["AGREEMENT", "agreement", "export_onnx", "onnx_logits"]

#: Share of sample texts on which int8 must decide as fp32 does.
AGREEMENT: Final = 0.99


class _Logits(torch.nn.Module):
    def __init__(self, model: PooledClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(input_ids, attention_mask)
        return logits


def onnx_logits(session: Any, ids: list[list[int]], pad_id: int, batch_size: int = 64) -> np.ndarray:
    """[N, classes] logits from an onnxruntime session, in input order."""
    order = np.argsort([len(r) for r in ids], kind="stable")
    width = (
        int(session.get_outputs()[0].shape[-1]) if isinstance(session.get_outputs()[0].shape[-1], int) else 0
    )
    out: np.ndarray | None = np.zeros((len(ids), width), dtype=np.float32) if width else None
    for start in range(0, len(ids), batch_size):
        rows = order[start : start + batch_size]
        batch, mask = pad_batch([ids[i] for i in rows], pad_id)
        logits = session.run(["logits"], {"input_ids": batch.numpy(), "attention_mask": mask.numpy()})[0]
        if out is None:
            out = np.zeros((len(ids), logits.shape[-1]), dtype=np.float32)
        out[rows] = logits
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def agreement(reference: np.ndarray, other: np.ndarray, thresholds: dict[int, float]) -> dict[str, float]:
    """How often ``other`` decides as ``reference`` (probabilities, [N, classes])."""
    same = [float(np.mean(reference.argmax(1) == other.argmax(1)))]
    for index, threshold in thresholds.items():
        same.append(float(np.mean((reference[:, index] >= threshold) == (other[:, index] >= threshold))))
    return {
        "decisions": min(same),
        "max_abs_diff": float(np.abs(reference - other).max()) if len(other) else 0.0,
    }


def export_onnx(folder: Path, texts: Sequence[str] | None = None, quantize: bool = True) -> list[str]:
    """Write ``model.onnx`` and an int8 file per recipe (usable where it agrees); returns
    report lines."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError("ONNX export needs: pip install onnxruntime onnx") from exc
    model, tokenizer, config = load_model(folder)
    pad_id = int(tokenizer.pad_token_id or 0)
    if texts is None:
        texts = _sample_texts(config.data)
    ids = tokenize(tokenizer, prepare(list(texts)), config.recipe.max_tokens)
    fp32_path = folder / "model.onnx"
    example = pad_batch(ids[:2] or [[pad_id]], pad_id)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter warns about traced Python branches, constant for one model.
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _Logits(model).eval(),
                example,
                str(fp32_path),
                input_names=["input_ids", "attention_mask"],
                output_names=["logits"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "logits": {0: "batch"},
                },
                opset_version=OPSET,
                dynamo=False,
            )
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ModelError(f"cannot export {folder} to ONNX: {exc}") from exc
    reference = predict_proba(model, ids, pad_id)
    options = ort.SessionOptions()
    fp32 = _softmax(
        onnx_logits(
            ort.InferenceSession(str(fp32_path), options, providers=["CPUExecutionProvider"]), ids, pad_id
        )
    )
    classes = list(config.classes)
    thresholds = {
        classes.index(entry["class"]): float(entry["chosen"]["threshold"])
        for entry in config.decision.get("categories", {}).values()
    }
    found: dict[str, Any] = {
        "fp32": fp32_path.name,
        "fp32_agreement": agreement(reference, fp32, thresholds),
        "sample_texts": len(ids),
        "opset": OPSET,
    }
    lines = [
        f"ONNX fp32: {fp32_path} (decides as torch on "
        f"{found['fp32_agreement']['decisions']:.1%} of {len(ids)} texts)"
    ]
    if quantize:
        found["int8"] = {}
        for recipe in INT8_RECIPES.values():
            int8_path = folder / f"model.int8-{recipe}.onnx"
            quantize_int8(fp32_path, int8_path, recipe)
            session = ort.InferenceSession(str(int8_path), options, providers=["CPUExecutionProvider"])
            agreed = agreement(reference, _softmax(onnx_logits(session, ids, pad_id)), thresholds)
            usable = agreed["decisions"] >= AGREEMENT
            found["int8"][recipe] = {"file": int8_path.name, "agreement": agreed, "usable": usable}
            lines.append(
                f"ONNX int8 ({recipe}): {int8_path}: decides as fp32 on {agreed['decisions']:.1%} of the "
                f"sample texts (max |p - p_fp32| {agreed['max_abs_diff']:.3f}): "
                + ("usable" if usable else f"below {AGREEMENT:.0%}, fp32 is served on CPUs of this recipe")
            )
    write_config(folder, config.model_copy(update={"onnx": found}))
    return lines


def _sample_texts(data: dict[str, Any], limit: int = 512) -> list[str]:
    """Up to ``limit`` texts of the training file when it is still where it was (else a few
    fixed sentences): agreement is about decisions on real text, labels are not needed."""
    from worker.training.category_cli import read_category_csv

    path = Path(str(data.get("path", "")))
    if path.is_file():
        texts = read_category_csv(path, str(data["text_column"]), str(data["label_column"])).texts
        step = max(1, len(texts) // limit)
        return texts[::step][:limit]
    return [
        "The senator's outrageous scheme will bankrupt hard-working families.",
        "The committee will meet on Tuesday to discuss the budget.",
        "Critics slammed the radical proposal as a disaster.",
        "Officials said the bridge would reopen next month.",
    ]
