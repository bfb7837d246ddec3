"""The entailment head's lexical component: how two tweets overlap, judged by trees.

Frozen sentence embeddings say what two tweets are about, not whether one
repeats, quotes or corrects the other; on the multimodal-entailment pairs a
linear probe on them stays near 0.52 macro-F1. Surface overlap carries what
they miss: a retweet-like pair shares most of its words, a correction shares its
mentions and hashtags but not its numbers. :func:`pair_features` measures that
(plus the cosine of the two text embeddings), and a small boosted tree ensemble
(:class:`TreeEnsemble`, trained by :mod:`worker.training.boost`) turns it into
three logits, which the head blends with its MLP's probabilities.

The trees are plain tensors (complete binary trees of fixed depth: a feature and
a threshold per inner node, a value per leaf), saved in the heads checkpoint
beside the MLP, so the live worker scores exactly what training measured.

Example::

    x = torch.tensor([pair_features("Polls close at 8", "Polls close at 9 tonight") + [0.93]])
    logits = TreeEnsemble(trees=600, depth=3).forward(x)      # [1, 3]
"""

from __future__ import annotations

import difflib
import math
import re

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from worker.model.links import LINK as _URL
from worker.names import ENTAILMENT_LABELS

__all__ = ["LEXICAL_FEATURES", "TreeEnsemble", "lexical_row", "pair_features"]

#: The inputs of the trees, in order: :func:`pair_features`, then the text cosine.
LEXICAL_FEATURES = (
    "word_jaccard",
    "char3_jaccard",
    "sequence_ratio",
    "mention_jaccard",
    "hashtag_jaccard",
    "number_jaccard",
    "numbers_differ",
    "log_length_a",
    "log_length_b",
    "length_gap",
    "same_text",
    "url_count_gap",
    "words_of_a_in_b",
    "words_of_b_in_a",
    "text_cosine",
)

_WORD = re.compile(r"[#@]?\w+")
_NUMBER = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(1, len(a | b))


def _char_grams(text: str, n: int = 3) -> set[str]:
    flat = _SPACE.sub(" ", text).strip()
    return {flat[i : i + n] for i in range(max(1, len(flat) - n + 1))}


def pair_features(text_a: str, text_b: str) -> list[float]:
    """Overlap of two tweets (links removed, case folded): every feature of
    :data:`LEXICAL_FEATURES` but the last, which needs the embeddings."""
    plain_a, plain_b = _URL.sub(" ", text_a).lower(), _URL.sub(" ", text_b).lower()
    words_a, words_b = set(_WORD.findall(plain_a)), set(_WORD.findall(plain_b))
    numbers_a, numbers_b = set(_NUMBER.findall(plain_a)), set(_NUMBER.findall(plain_b))
    short_a, short_b = plain_a.strip(), plain_b.strip()
    len_a, len_b = len(short_a), len(short_b)
    shared = len(words_a & words_b)
    return [
        _jaccard(words_a, words_b),
        _jaccard(_char_grams(plain_a), _char_grams(plain_b)),
        difflib.SequenceMatcher(None, short_a, short_b, autojunk=False).ratio(),
        _jaccard({w for w in words_a if w[0] == "@"}, {w for w in words_b if w[0] == "@"}),
        _jaccard({w for w in words_a if w[0] == "#"}, {w for w in words_b if w[0] == "#"}),
        _jaccard(numbers_a, numbers_b),
        float(bool(numbers_a ^ numbers_b)),
        math.log1p(len_a),
        math.log1p(len_b),
        abs(len_a - len_b) / max(1, len_a, len_b),
        float(short_a == short_b),
        float(len(_URL.findall(text_a)) - len(_URL.findall(text_b))),
        shared / max(1, len(words_a)),
        shared / max(1, len(words_b)),
    ]


def lexical_row(
    text_a: str | None,
    text_b: str | None,
    encoded_a: npt.NDArray[np.float32] | None,
    encoded_b: npt.NDArray[np.float32] | None,
) -> list[float]:
    """The trees' input for one pair: :func:`pair_features` and the cosine of the two
    text encodings; all NaN when either text is missing (the head then ignores it).
    Training and the live worker both call this, so both see the same numbers."""
    if not text_a or not text_b or encoded_a is None or encoded_b is None:
        return [math.nan] * len(LEXICAL_FEATURES)
    a, b = np.asarray(encoded_a, dtype=np.float64), np.asarray(encoded_b, dtype=np.float64)
    cosine = float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
    return [*pair_features(text_a, text_b), cosine]


class TreeEnsemble(nn.Module):
    """``trees`` regression trees of depth ``depth`` adding up to one logit per class.

    Tree ``t`` adds to class ``klass[t]``. Inner node ``i`` sends a row right when
    ``x[feature[t, i]] > threshold[t, i]``; its children are ``2i+1`` and ``2i+2``.
    A node that did not split has threshold ``+inf`` (everything goes left).
    """

    feature: Tensor
    threshold: Tensor
    leaf: Tensor
    klass: Tensor
    base: Tensor

    def __init__(self, trees: int, depth: int) -> None:
        super().__init__()
        inner, leaves = 2**depth - 1, 2**depth
        self.depth = depth
        self.register_buffer("feature", torch.zeros(trees, inner, dtype=torch.long))
        self.register_buffer("threshold", torch.full((trees, inner), math.inf))
        self.register_buffer("leaf", torch.zeros(trees, leaves))
        self.register_buffer("klass", torch.arange(trees) % len(ENTAILMENT_LABELS))
        self.register_buffer("base", torch.zeros(len(ENTAILMENT_LABELS)))

    @property
    def trees(self) -> int:
        return int(self.leaf.shape[0])

    def forward(self, x: Tensor) -> Tensor:
        """Logits [N, classes] for feature rows ``x`` [N, features]."""
        feature, threshold, leaf = self.feature, self.threshold, self.leaf
        trees, inner = feature.shape
        offsets = torch.arange(trees, device=x.device) * inner
        node = torch.zeros((x.shape[0], trees), dtype=torch.long, device=x.device)
        for _ in range(self.depth):
            flat = offsets + node
            value = x.gather(1, feature.flatten()[flat])
            node = 2 * node + 1 + (value > threshold.flatten()[flat]).long()
        values = leaf.flatten()[torch.arange(trees, device=x.device) * leaf.shape[1] + node - inner]
        onehot = nn.functional.one_hot(self.klass, len(self.base)).to(values.dtype)
        out: Tensor = self.base + values @ onehot
        return out
