"""The bench's fine-tuned category cost: the folder built as worker.finetune writes one,
served by the worker's own classifier, each ONNX file and the cached lookup recorded."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from moderation_lab.bench.finetuned import build_folder, finetuned_costs

from worker.finetune.model import read_config, write_config
from worker.finetune.text import normaliser_id
from worker.model.classifiers.finetuned import FineTunedClassifier
from worker.model.onnx_export import int8_recipe


def test_the_folder_is_served_and_each_backend_and_the_cache_are_recorded(
    tiny_paths: dict[str, Path], tmp_path: Path
) -> None:
    texts = [f"post number {i} about {'bikes' if i % 2 else 'rain'}" for i in range(6)]
    encoder = str(tiny_paths["text"])
    folder = tmp_path / "finetuned"
    timed: list[tuple[int, int]] = []

    def timer(
        work: Callable[[Sequence[Any]], object], items: Sequence[Any], batch: int, repeats: int
    ) -> float:
        batches = [work(items[start : start + batch]) for start in range(0, len(items), batch)]
        timed.append((len(batches), repeats))
        return 2.0

    rows = finetuned_costs(texts, folder, encoder=encoder, size="tiny", batch=4, repeats=3, timer=timer)

    config = read_config(folder)
    assert config.recipe.encoder == encoder and "not trained" in config.data["note"]
    int8_file = config.onnx["int8"][int8_recipe()]
    assert (folder / "model.onnx").is_file() and (folder / int8_file["file"]).is_file()
    assert timed == [(2, 3), (2, 3)]
    int8, fp32 = rows["fine-tuned tiny, ONNX int8"], rows["fine-tuned tiny, ONNX fp32"]
    assert (int8["backend"], fp32["backend"]) == ("onnx-int8", "onnx-fp32")
    assert int8["served"] is bool(int8_file["usable"]) and fp32["served"] is not int8["served"]
    auto = FineTunedClassifier(folder, "classifier:bench")  # what the worker serves
    assert auto.backend == ("onnx-int8" if int8["served"] else "onnx-fp32")
    cached = rows["fine-tuned tiny, cached"]
    assert cached["backend"] == "redis" and cached["ms_per_item"] > 0
    assert build_folder(folder, encoder, texts) == []  # reused, not rebuilt
    other = config.recipe.model_copy(update={"normaliser": "another-normaliser/0"})
    write_config(folder, config.model_copy(update={"recipe": other}))
    assert build_folder(folder, encoder, texts)  # rebuilt: the worker would refuse it
    assert read_config(folder).recipe.normaliser == normaliser_id()
