"""The model layer: bias classifier, entailment head, CLIP scorer.

The pipeline depends on :class:`Scorer` only; :class:`ModerationModel` is the
real implementation. Importing this package first makes torchvision (and so
transformers) importable next to a CPU-only torch, and turns transformers'
progress bars off (see :mod:`.compat`). The tiny offline stand-in models are in
:mod:`.tiny` (not imported here, so that ``python -m moderation_lab.tiny_models`` runs it
as a fresh module).

Example::

    from worker.model import ModerationModel, PostFeatures

    model = ModerationModel.load(settings)
    [scores] = model.score([PostFeatures(text=model.encode_texts(["hi"])[0])])
"""

from worker.model.compat import ensure_torchvision_importable, silence_progress_bars

# Must run before anything below imports transformers.
ensure_torchvision_importable()
# Worker logs are one line per event; transformers' bars redraw a line per load.
silence_progress_bars()

from worker.model.bias import BiasClassifier  # noqa: E402
from worker.model.clip import ClipScorer  # noqa: E402
from worker.model.entailment import EntailmentHead  # noqa: E402
from worker.model.identity import weights_sha256  # noqa: E402
from worker.model.moderation import HeadsConfig, ModerationModel  # noqa: E402
from worker.model.types import (  # noqa: E402
    FloatArray,
    PostFeatures,
    PostScores,
    ReferenceFeatures,
    Scorer,
)

__all__ = [
    "BiasClassifier",
    "ClipScorer",
    "EntailmentHead",
    "FloatArray",
    "HeadsConfig",
    "ModerationModel",
    "PostFeatures",
    "PostScores",
    "ReferenceFeatures",
    "Scorer",
    "ensure_torchvision_importable",
    "weights_sha256",
]
