"""CPU runtimes beside the worker's backends in the bench's table: OpenVINO (fp32, bf16,
NNCF static int8) and CTranslate2 (BERT-style text encoders). Both are optional (the
``peers`` extra of the lab, ``pip install "moderation-worker-lab[peers]"``); a runtime that
is not installed, or that fails on an encoder, is reported as such and never stops the run.

Example::

    runners, status = peer_runners(reference, graphs, calibration, cache_dir, bf16=True)
    status   # {"openvino": "2026.4.1", "ctranslate2": "not installed", ...}
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from torch import Tensor

from worker.model import ModerationModel
from worker.model.backends import Encoder
from worker.model.graphs import EncoderGraph

__all__ = ["PEERS", "PeerRunner", "peer_runners", "peer_versions"]

log = logging.getLogger(__name__)

PeerRunner = Callable[..., Tensor]
#: Each peer runtime: its distribution name and the backends it adds.
PEERS = {"openvino": ("ov-fp32", "ov-bf16", "ov-int8"), "ctranslate2": ("ct2-int8", "ct2-fp32")}


def peer_versions() -> dict[str, str]:
    """Each peer runtime's installed version, or "not installed"."""
    out = {}
    for name in (*PEERS, "nncf"):
        try:
            out[name] = (
                importlib.metadata.version(name) if importlib.util.find_spec(name) else "not installed"
            )
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def peer_runners(
    reference: ModerationModel,
    graphs: Mapping[Encoder, EncoderGraph],
    calibration: Mapping[Encoder, Sequence[tuple[Tensor, ...]]],
    cache_dir: Path,
    *,
    bf16: bool,
) -> tuple[dict[str, dict[Encoder, PeerRunner]], dict[str, str]]:
    """Runners per peer backend and encoder, and why any peer backend is missing."""
    versions = peer_versions()
    runners: dict[str, dict[Encoder, PeerRunner]] = {}
    missing: dict[str, str] = {}
    if versions["openvino"] == "not installed":
        missing.update({b: "openvino not installed" for b in PEERS["openvino"]})
    else:
        try:
            from moderation_lab.bench.peers.ov import openvino_runners

            ov_runners, skipped = openvino_runners(graphs, cache_dir, calibration, bf16=bf16)
            runners.update(ov_runners)
            missing.update(skipped)
        except Exception as exc:  # a runtime failing on a graph is a finding, not a crash
            log.warning("OpenVINO failed: %s", exc, exc_info=True)
            missing.update({b: f"failed: {type(exc).__name__}: {exc}" for b in PEERS["openvino"]})
        if not bf16:
            missing["ov-bf16"] = "no bf16 instructions on this CPU"
    if versions["ctranslate2"] == "not installed":
        missing.update({b: "ctranslate2 not installed" for b in PEERS["ctranslate2"]})
    else:
        try:
            from moderation_lab.bench.peers.ct2 import ctranslate2_runners

            ct2_runners, skipped = ctranslate2_runners(reference, cache_dir / "ct2")
            runners.update(ct2_runners)
            missing.update(skipped)
        except Exception as exc:
            log.warning("CTranslate2 failed: %s", exc, exc_info=True)
            missing.update({b: f"failed: {type(exc).__name__}: {exc}" for b in PEERS["ctranslate2"]})
    return runners, missing
