"""A fine-tuning run killed mid-epoch continues from its checkpoint to the same weights."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

_RUN = """
import os, signal, sys
from pathlib import Path
from worker.finetune.recipe import FineTuneRecipe
from worker.finetune.run import FineTuneJob, run_fine_tune

csv, encoder, out, kill_at = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])

def on_step(step: int) -> None:
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)   # no clean-up, as when a machine goes

recipe = FineTuneRecipe(encoder=encoder, epochs=2, batch_size=8, max_tokens=16, patience=5)
job = FineTuneJob(Path(csv), "text", "label", {"1": "bias", "0": ""}, out, "bias",
                  baselines=False, checkpoint_steps=3, threads=1, on_step=on_step if kill_at else None)
run_fine_tune(job, recipe)
"""


def _run(csv: Path, encoder: Path, out: Path, kill_at: int = 0) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", _RUN, str(csv), str(encoder), str(out), str(kill_at)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    found = {f"head.{k}": v for k, v in load_file(str(folder / "head.safetensors")).items()}
    found |= {f"encoder.{k}": v for k, v in load_file(str(folder / "encoder" / "model.safetensors")).items()}
    return found


def test_killed_run_resumes_to_the_same_weights(small_csv: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    straight = _run(small_csv, tiny_encoder, tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]

    # 72 training rows - 8 validation = 64 rows, 8 batches an epoch: step 11 is mid-epoch 2,
    # two steps after the checkpoint of step 9.
    killed = _run(small_csv, tiny_encoder, tmp_path / "resumed", kill_at=11)
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "resumed" / ".progress" / "state.pt").exists()
    assert not (tmp_path / "resumed" / "finetune.json").exists()
    state = torch.load(tmp_path / "resumed" / ".progress" / "state.pt", weights_only=False)
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (1, 1, 9)

    resumed = _run(small_csv, tiny_encoder, tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resuming from" in resumed.stderr and "epoch 2, step 1/8" in resumed.stderr

    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different
    # and the training moved the weights at all (else equality would say nothing)
    fresh = load_file(str(tiny_encoder / "model.safetensors"))
    moved = [k for k, v in fresh.items() if f"encoder.{k}" in a and not torch.equal(v, a[f"encoder.{k}"])]
    assert moved
