"""One declared evaluation protocol: a fixed, stratified hold-out split of a labelled file.

Every recipe that reports a figure on "the split" (fine-tuning, the TF-IDF and frozen-feature
baselines beside it, the evasion checks) takes its rows from :func:`holdout_split`, so the
figures compare the same rows. The split depends only on the labels, the fraction and the
seed: the same file gives the same split on every machine. Its :attr:`Split.fingerprint`
(a hash of both index lists) travels in each recipe's record.

Example::

    split = holdout_split(labels)                  # 80 / 20, stratified, seed 0
    train_rows, test_rows = split.train, split.test
    fit_rows, val_rows = validation_split(labels, split.train)   # early stopping's part
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from worker.errors import ModelError

__all__ = ["HOLDOUT_FRACTION", "HOLDOUT_SEED", "Split", "holdout_split", "validation_split"]

#: The declared protocol: a fifth of the file held out, stratified, seed 0.
HOLDOUT_FRACTION: Final = 0.2
HOLDOUT_SEED: Final = 0

IndexArray = NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    """Row indices (into the file as read) of the two parts, each sorted."""

    train: IndexArray
    test: IndexArray
    fraction: float
    seed: int

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in (self.train, self.test):
            digest.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
            digest.update(b"|")
        return digest.hexdigest()[:16]

    def describe(self) -> dict[str, object]:
        """What a record says about the split."""
        return {
            "protocol": "stratified hold-out",
            "test_fraction": self.fraction,
            "seed": self.seed,
            "train_rows": len(self.train),
            "test_rows": len(self.test),
            "fingerprint": self.fingerprint,
        }


def _split(labels: Sequence[str], rows: IndexArray, fraction: float, seed: int) -> Split:
    if not 0 < fraction < 1:
        raise ModelError(f"a split fraction must be between 0 and 1, not {fraction}")
    strata = [labels[i] for i in rows]
    counts = {label: strata.count(label) for label in set(strata)}
    if len(counts) < 2:
        raise ModelError("a stratified split needs at least two classes")
    if min(counts.values()) < 2:
        rare = min(counts, key=lambda label: counts[label])
        raise ModelError(f"class {rare!r} has {counts[rare]} row(s): a stratified split needs 2 or more")
    train, test = train_test_split(rows, test_size=fraction, random_state=seed, stratify=strata)
    return Split(np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(test, np.int64)), fraction, seed)


def holdout_split(
    labels: Sequence[str], fraction: float = HOLDOUT_FRACTION, seed: int = HOLDOUT_SEED
) -> Split:
    """The declared protocol's split of a whole file (``labels``: one per row, as read)."""
    return _split(labels, np.arange(len(labels), dtype=np.int64), fraction, seed)


def validation_split(
    labels: Sequence[str], rows: IndexArray, fraction: float = 0.1, seed: int = HOLDOUT_SEED
) -> Split:
    """A stratified part of ``rows`` (usually a hold-out split's ``train``) for early stopping
    and threshold choice: ``train`` is what the model fits, ``test`` what it is checked on."""
    return _split(labels, np.asarray(rows, np.int64), fraction, seed)
