"""OpenVINO's usage telemetry, off before anything of OpenVINO's tools is imported.

The OpenVINO runtime (``openvino.Core``, reading ONNX files, compiling models) sends
nothing; its Python tools do: NNCF creates an ``openvino_telemetry`` client when it is
imported and, where no consent file exists, counts that as consent and sends usage events
to Google Analytics (``ovc``/``convert_model`` do the same; the bench never calls them).
The documented opt-out is ``opt_in_out --opt_out``, which writes ``0`` to the consent file
(``~/intel/openvino_telemetry``); :func:`opt_out` does the same through the package's
own checker, and only where no choice was recorded. Where a user has opted in, the bench
keeps that choice and does not import NNCF (its int8 rows say why).

Example::

    state = opt_out()   # "declined" (now or before), "accepted" or "no consent file possible"
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["consent_file", "opt_out"]


def consent_file() -> Path | None:
    """Where OpenVINO's tools read the user's telemetry choice (None: nowhere, which
    they read as declined)."""
    if importlib.util.find_spec("openvino_telemetry") is None:
        return None
    from openvino_telemetry.utils.opt_in_checker import OptInChecker

    base, sub = OptInChecker.consent_file_base_dir(), OptInChecker.consent_file_subdirectory()
    return None if base is None or sub is None else Path(base) / sub / "openvino_telemetry"


def opt_out() -> str:
    """Record "declined" where no choice exists yet; returns the choice in force."""
    path = consent_file()
    if path is None:
        return "declined (no telemetry client, or no place for a consent file)"
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

    if path.is_file():
        content = path.read_text().strip()
        return "accepted" if content == "1" else "declined"
    if not OptInChecker().update_result(ConsentCheckResult.DECLINED):
        raise OSError(f"cannot record the OpenVINO telemetry opt-out in {path}")
    return "declined (recorded now, as `opt_in_out --opt_out` does)"
