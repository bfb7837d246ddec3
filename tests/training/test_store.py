"""Feature stores: the local file survives a new process; a damaged one is recomputed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from worker.training.store import FileStore, NoStore


def test_file_store_round_trip(tmp_path: Path) -> None:
    vectors = {"aa": np.arange(4, dtype=np.float32), "bb": np.ones(4, dtype=np.float32)}
    FileStore(tmp_path).put_many("text", "enc1", vectors)
    again = FileStore(tmp_path)  # as a second run would
    found = again.get_many("text", "enc1", ["aa", "bb", "cc"])
    assert set(found) == {"aa", "bb"}
    np.testing.assert_array_equal(found["aa"], vectors["aa"])
    # Another encoder id (or kind) never sees these vectors.
    assert again.get_many("text", "enc2", ["aa"]) == {}
    assert again.get_many("image", "enc1", ["aa"]) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings-text-enc1.npz"]


def test_damaged_file_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FileStore(tmp_path)
    store.path("text", "enc1").write_bytes(b"not a zip file")
    assert store.get_many("text", "enc1", ["aa"]) == {}
    assert "ignoring unreadable feature cache" in caplog.text
    store.put_many("text", "enc1", {"aa": np.zeros(2, dtype=np.float32)})
    assert set(FileStore(tmp_path).get_many("text", "enc1", ["aa"])) == {"aa"}


def test_no_store_keeps_nothing() -> None:
    store = NoStore()
    store.put_many("text", "e", {"a": np.zeros(2, dtype=np.float32)})
    assert store.get_many("text", "e", ["a"]) == {}
