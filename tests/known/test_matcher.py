"""Matching against banks: thresholds, nearest entry per bank, reloads, the shared index file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.known.test_index import flip
from worker.errors import BankError
from worker.known.banks import BankSpec, write_manifest
from worker.known.matcher import BankMatch, KnownContent

BASE = bytes(np.random.default_rng(5).integers(0, 256, 32, dtype=np.uint8))


def hexes(*digests: bytes) -> str:
    return "".join(d.hex() + "\n" for d in digests)


def make_banks(folder: Path) -> None:
    (folder / "terror.txt").write_text(hexes(flip(BASE, list(range(10))), flip(BASE, [3])))
    (folder / "ncii.txt").write_text(hexes(flip(BASE, list(range(40, 70)))))  # 30 bits away
    write_manifest(
        folder,
        [
            BankSpec("terror", "terror.txt", "hex", "terrorist content", "block"),
            BankSpec("ncii", "ncii.txt", "hex", "non-consensual imagery", "review"),
        ],
    )


def bump(path: Path) -> None:
    """A new modification time, as an editor or a sync would leave."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_nearest_entry_of_each_bank_within_the_threshold(tmp_path: Path) -> None:
    make_banks(tmp_path)
    known = KnownContent(tmp_path, threshold=31)
    assert known.match(BASE) == (
        BankMatch("terror", 1, "terrorist content", "block"),
        BankMatch("ncii", 30, "non-consensual imagery", "review"),
    )
    assert KnownContent(tmp_path, threshold=29).match(BASE) == (
        BankMatch("terror", 1, "terrorist content", "block"),
    )
    assert known.match(flip(BASE, list(range(100, 200)))) == ()


def test_changed_files_are_reloaded_and_a_broken_reload_keeps_the_old_banks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_banks(tmp_path)
    known = KnownContent(tmp_path, threshold=31, reload_s=0.0)
    other = flip(BASE, list(range(128, 256)))
    assert known.match(other) == ()
    with (tmp_path / "ncii.txt").open("a") as bank:
        bank.write(hexes(flip(other, [1, 2])))
    bump(tmp_path / "ncii.txt")
    assert known.match(other) == (BankMatch("ncii", 2, "non-consensual imagery", "review"),)
    (tmp_path / "terror.txt").write_text("not a hash\n")
    bump(tmp_path / "terror.txt")
    assert known.match(BASE)[0].bank == "terror"  # still the previous banks
    assert "previous ones stay in service" in caplog.text


def test_the_index_is_saved_once_and_memory_mapped_by_the_next_worker(tmp_path: Path) -> None:
    make_banks(tmp_path)
    first = KnownContent(tmp_path)
    saved = list((tmp_path / ".index").iterdir())
    assert len(saved) == 1 and (saved[0] / "order.npy").exists()
    second = KnownContent(tmp_path)
    assert isinstance(second._loaded.index.hashes, np.memmap)
    assert second.match(BASE) == first.match(BASE)


def test_a_read_only_folder_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_banks(tmp_path)

    def refuse(self: object, directory: Path) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr("worker.known.index.HashIndex.save", refuse)
    assert KnownContent(tmp_path).match(BASE)[0].distance == 1


def test_a_broken_bank_at_start_up_is_an_error(tmp_path: Path) -> None:
    make_banks(tmp_path)
    (tmp_path / "ncii.txt").write_text("zz\n")
    with pytest.raises(BankError, match=r"ncii\.txt:1"):
        KnownContent(tmp_path)
