"""ONNX Runtime int8 on a CPU with AVX2 only, emulated: whatever CPU runs the tests.

ONNX Runtime chooses its int8 kernels by CPUID, so holding torch's oneDNN to AVX2 does not
reach them; ``qemu-x86_64 -cpu Haswell`` (Debian's qemu-user, which ``make test`` installs)
answers CPUID as a Haswell does. The ONNX files are exported here, natively; only numpy and
onnxruntime run emulated (a few seconds). It shows the failure the recipe choice fixes
(signed weights saturate without VNNI) and that the recipe taken without VNNI (unsigned
weights) keeps the agreement rule there.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.model.conftest import MakeSettings
from worker.model.agreement import COSINE_MIN, measure_agreement
from worker.model.clip import ClipScorer
from worker.model.graphs import clip_text_graph
from worker.model.onnx_export import INT8_RECIPES, onnx_file
from worker.model.preprocess import pad
from worker.model.probe import PROBE_TEXTS

pytestmark = pytest.mark.emulated_cpu
QEMU = shutil.which("qemu-x86_64")

_RUN = """
import sys
import numpy as np
import onnxruntime as ort
folder = sys.argv[1]
feeds = dict(np.load(f"{folder}/inputs.npz"))
out = {}
for name in sys.argv[2:]:
    session = ort.InferenceSession(f"{folder}/{name}", providers=["CPUExecutionProvider"])
    out[name] = session.run(["features"], feeds)[0]
np.savez(f"{folder}/outputs.npz", **out)
"""


@pytest.mark.skipif(QEMU is None, reason="qemu-x86_64 not installed (make test installs Debian's qemu-user)")
def test_without_vnni_unsigned_int8_weights_keep_agreement(
    make_settings: MakeSettings, tmp_path: Path
) -> None:
    clip = ClipScorer.load(make_settings().clip_model, ("a", "b"), "a photo of {}")
    graph = clip_text_graph(clip.model, "0" * 64)
    files = {"fp32": onnx_file(graph, tmp_path, int8=False)}
    for weights, recipe in INT8_RECIPES.items():
        files[weights] = onnx_file(graph, tmp_path, int8=True, recipe=recipe)
    rows = clip.tokenizer(list(PROBE_TEXTS), truncation=True, max_length=clip.max_tokens)["input_ids"]
    input_ids, mask = pad(rows, int(clip.tokenizer.pad_token_id or 0))
    np.savez(tmp_path / "inputs.npz", input_ids=input_ids.numpy(), attention_mask=mask.numpy())
    (tmp_path / "run.py").write_text(_RUN)
    names = [path.name for path in files.values()]
    assert QEMU is not None
    done = subprocess.run(
        [QEMU, "-cpu", "Haswell", sys.executable, str(tmp_path / "run.py"), str(tmp_path), *names],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = {key: np.load(tmp_path / "outputs.npz")[path.name] for key, path in files.items()}
    native = _native(files["fp32"], tmp_path / "inputs.npz")
    assert measure_agreement(native, out["fp32"]).cosine_min > 0.99999  # fp32 is fp32 on any CPU
    # The reported failure: signed weights, unsigned activations, 16-bit sums that saturate.
    saturated = measure_agreement(out["fp32"], out["qint8"])
    assert saturated.cosine_min < COSINE_MIN, "the emulated CPU no longer reaches the saturating kernels"
    unsigned = measure_agreement(out["fp32"], out["quint8"])
    assert unsigned.agrees, unsigned


def _native(path: Path, inputs: Path) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(["features"], dict(np.load(inputs)))[0]
    return result
