"""The figures to beat, on the same split: TF-IDF alone, frozen encoder features alone, and
frozen features + TF-IDF (the ``train category`` default), each a class-weighted logistic
regression fitted on the split's training rows and scored on its test rows.

Example::

    found = split_baselines(texts, y, split, frozen)     # {"tfidf": probs, ...}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from worker.training.category import CategoryTrainConfig, fit_read
from worker.training.splits import Split

__all__ = ["split_baselines"]


def split_baselines(
    texts: Sequence[str], y: np.ndarray, split: Split, frozen: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Test-row probabilities of each baseline (``texts``: as the fine-tuned model reads them,
    normalised; ``frozen``: [rows, hidden] features of the untouched encoder, or ``None`` to
    skip the two that need them)."""
    train, test = split.train, split.test
    train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]
    found: dict[str, np.ndarray] = {}
    recipes = {"tfidf": (False, True)}
    if frozen is not None:
        recipes |= {"frozen": (True, False), "frozen+tfidf": (True, True)}
    for name, (dense, tfidf) in recipes.items():
        config = CategoryTrainConfig(name=name, tfidf=tfidf, encoder_features=dense)
        features = frozen if dense else None
        fit = fit_read(  # the texts are already read as the fine-tuned model reads them
            features[train] if features is not None else None, train_texts, y[train], config, balanced=True
        )
        design = fit.design(features[test] if features is not None else None, test_texts)
        found[name] = np.asarray(fit.model.predict_proba(design), dtype=np.float32)
    return found
