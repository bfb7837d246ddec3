"""The multi-index finds exactly what a brute-force scan finds (property test), saved or not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.known.index import HashIndex, brute_force


def flip(digest: bytes, bits: list[int]) -> bytes:
    value = int.from_bytes(digest, "big")
    for bit in bits:
        value ^= 1 << bit
    return value.to_bytes(32, "big")


@st.composite
def bank_and_query(draw: st.DrawFn) -> tuple[np.ndarray, bytes, int]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    query = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    # Neighbours at chosen distances, their flipped bits concentrated in few chunks or spread,
    # so the pigeonhole bound is tested where it is tight.
    rows = []
    for _ in range(draw(st.integers(0, 40))):
        d = draw(st.integers(0, 64))
        chunks = draw(st.integers(1, 16))
        pool = np.concatenate([np.arange(c * 16, c * 16 + 16) for c in rng.choice(16, chunks, replace=False)])
        bits = rng.choice(pool if pool.size >= d else np.arange(256), d, replace=False)
        rows.append(np.frombuffer(flip(query, [int(b) for b in bits]), dtype=np.uint8))
    noise = rng.integers(0, 256, (draw(st.integers(0, 300)), 32), dtype=np.uint8)
    hashes = np.vstack([*rows, noise]) if rows else noise
    order = rng.permutation(hashes.shape[0])
    return np.ascontiguousarray(hashes[order]).reshape(-1, 32), query, draw(st.integers(0, 63))


@settings(max_examples=300, deadline=None)
@given(bank_and_query())
def test_search_equals_brute_force(case: tuple[np.ndarray, bytes, int]) -> None:
    hashes, query, radius = case
    assert HashIndex.build(hashes).search(query, radius) == brute_force(hashes, query, radius)


def test_saved_index_is_memory_mapped_and_answers_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    hashes = rng.integers(0, 256, (5000, 32), dtype=np.uint8)
    query = flip(hashes[42].tobytes(), [0, 17, 200])
    built = HashIndex.build(hashes)
    built.save(tmp_path)
    loaded = HashIndex.load(tmp_path)
    assert isinstance(loaded.hashes, np.memmap)
    assert loaded.search(query, 31) == built.search(query, 31) == [(42, 3)]


def test_empty_index_and_bad_queries() -> None:
    empty = HashIndex.build(np.empty((0, 32), dtype=np.uint8))
    assert empty.search(bytes(32), 31) == []
    with pytest.raises(ValueError, match="32 bytes"):
        empty.search(bytes(8), 31)
    with pytest.raises(ValueError, match=r"\(n, 32\)"):
        HashIndex.build(np.zeros((3, 16), dtype=np.uint8))
