"""Reduced-precision backends proven on the machine that runs them.

Before an encoder runs on a backend that does not compute in fp32 (torch int8 or bf16,
ONNX Runtime int8), the worker runs a fixed probe batch (:mod:`.probe`) through it and
through torch fp32, and keeps it only where they agree: every embedding's cosine to fp32
at least :data:`COSINE_MIN` and, for the encoders that feed the bias head, every bias
score within :data:`SCORE_DIFF_MAX`. ``auto`` then takes the first candidate that agrees
(fastest first, torch fp32 last); a backend named in the settings has no alternative and is
kept, with a WARNING, where it disagrees (the bench measures such backends on purpose).

Agreement depends on the weights, the backend and its recipe, the CPU's instruction sets
and the libraries' versions, so those make the probe's key (:func:`probe_key`). Results are
cached in ``agreement-probes.json`` in the ONNX cache folder, so a restart costs nothing;
where that folder cannot be written (a read-only root), a file shipped there in the image
is still read, and anything missing is probed in memory at every start (said at WARNING
once).

Example::

    cache = ProbeCache(settings.onnx_cache_dir)
    backend, result = choose_agreeing("clip_text", candidates, key_of, measure, cache)
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from worker.model.backends import Backend, Encoder, computes_in_fp32

__all__ = [
    "CACHE_FILE",
    "COSINE_MIN",
    "SCORE_DIFF_MAX",
    "Agreement",
    "ProbeCache",
    "choose_agreeing",
    "measure_agreement",
]

log = logging.getLogger(__name__)

#: The agreement rule: lowest embedding cosine to fp32, largest bias-score change.
COSINE_MIN = 0.999
SCORE_DIFF_MAX = 0.005
CACHE_FILE = "agreement-probes.json"


@dataclass(frozen=True)
class Agreement:
    """One backend against torch fp32 on the probe batch."""

    cosine_min: float
    score_diff_max: float | None
    #: "measured" now, "cached" from the file, or "memory" (measured, the folder is read-only).
    source: str = "measured"
    seconds: float = 0.0

    @property
    def agrees(self) -> bool:
        scores_ok = self.score_diff_max is None or self.score_diff_max <= SCORE_DIFF_MAX
        return self.cosine_min >= COSINE_MIN and scores_ok

    def describe(self) -> str:
        scores = "" if self.score_diff_max is None else f", bias score within {self.score_diff_max:.4f}"
        return f"cosine {self.cosine_min:.5f}{scores}, {self.source}"


def measure_agreement(
    reference: np.ndarray,
    candidate: np.ndarray,
    reference_scores: np.ndarray | None = None,
    candidate_scores: np.ndarray | None = None,
) -> Agreement:
    """The rule applied to two runs of the probe batch (rows are embeddings)."""
    a, b = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cosine = float(((a * b).sum(1) / np.maximum(norms, 1e-12)).min())
    diff = None
    if reference_scores is not None and candidate_scores is not None:
        diff = float(np.abs(np.asarray(reference_scores) - np.asarray(candidate_scores)).max())
    return Agreement(cosine, diff)


class ProbeCache:
    """Probe results by key in one JSON file; in memory where the folder is read-only."""

    def __init__(self, folder: Path) -> None:
        self.path = folder.expanduser() / CACHE_FILE
        self.memory: dict[str, dict[str, object]] = self._read()
        self.writable = True

    def get(self, key: str) -> Agreement | None:
        found = self.memory.get(key)
        if not isinstance(found, dict):
            return None
        cosine, diff = found.get("cosine_min"), found.get("score_diff_max")
        if not isinstance(cosine, (int, float)) or not (diff is None or isinstance(diff, (int, float))):
            return None  # a damaged entry is probed again
        return Agreement(float(cosine), None if diff is None else float(diff), "cached")

    def put(self, key: str, result: Agreement, described: Mapping[str, object]) -> Agreement:
        """Record ``result``; what comes back says where it was kept."""
        self.memory[key] = {**asdict(result), "agrees": result.agrees, "key": dict(described)}
        del self.memory[key]["source"]
        if self.writable:
            try:
                self._write()
                return result
            except OSError as exc:
                self.writable = False
                log.warning(
                    "cannot write agreement probe results to %s (%s): keeping them in memory, "
                    "probing again at every start",
                    self.path,
                    exc,
                )
        return Agreement(result.cosine_min, result.score_diff_max, "memory", result.seconds)

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            loaded = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("agreement probe cache %s unreadable (%s): probing again", self.path, exc)
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _write(self) -> None:
        # Merged with what another worker sharing the folder may have written meanwhile,
        # then replaced whole, so a reader never sees half a file.
        merged = {**self._read(), **self.memory}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".agreement-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(merged, out, indent=1, sort_keys=True)
            os.chmod(name, 0o644)
            os.replace(name, self.path)
        finally:
            Path(name).unlink(missing_ok=True)


def choose_agreeing(
    encoder: Encoder,
    candidates: Sequence[Backend],
    key_of: Callable[[Backend], tuple[str, Mapping[str, object]]],
    measure: Callable[[Backend], Agreement],
    cache: ProbeCache,
) -> tuple[Backend, Agreement | None]:
    """The first candidate that computes in fp32 or agrees with fp32 here, with its probe
    result (None for fp32). The last candidate is kept even where it disagrees."""
    for index, backend in enumerate(candidates):
        if computes_in_fp32(backend):
            return backend, None
        key, described = key_of(backend)
        result = cache.get(key)
        if result is None:
            started = time.perf_counter()
            measured = measure(backend)
            elapsed = time.perf_counter() - started
            timed = Agreement(measured.cosine_min, measured.score_diff_max, "measured", elapsed)
            result = cache.put(key, timed, described)
        if result.agrees:
            return backend, result
        if index == len(candidates) - 1:
            log.warning(
                "the %s encoder on %s disagrees with fp32 on this CPU (%s; the rule: cosine >= %s, "
                "bias score within %s): kept because the settings name it",
                encoder,
                backend,
                result.describe(),
                COSINE_MIN,
                SCORE_DIFF_MAX,
            )
            return backend, result
        log.warning(
            "the %s encoder on %s disagrees with fp32 on this CPU (%s; the rule: cosine >= %s, "
            "bias score within %s): trying %s",
            encoder,
            backend,
            result.describe(),
            COSINE_MIN,
            SCORE_DIFF_MAX,
            candidates[index + 1],
        )
    raise ValueError("no candidate backends")  # candidate_backends never returns none
