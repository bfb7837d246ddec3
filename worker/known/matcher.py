"""Matching PDQ hashes against the hash banks, reloading them when their files change.

The banks' folder is polled (at most every ``reload_s``, on the next lookup): when the
manifest or a bank file changed, the banks are read again and a new index replaces the
old one in one assignment, so a lookup sees either the old banks or the new, never a
mix. A bank that fails to load keeps the previous banks in service and is logged; at
start-up it is an error (:class:`~worker.errors.BankError`).

The index built for a set of files is saved under ``FOLDER/.index/<fingerprint>/`` and
memory-mapped, so the workers of one host share a single copy through the page cache:
the first to start builds it, the others map what it wrote.

Example::

    known = KnownContent(Path("banks"), threshold=31, reload_s=10)
    known.match(pdq.digest)   # (BankMatch(bank='demo', distance=4, ...), ...)
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from worker.errors import BankError
from worker.known.banks import MANIFEST, LoadedBanks, load_banks, read_manifest
from worker.known.index import HashIndex

__all__ = ["BankMatch", "KnownContent"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BankMatch:
    """The nearest hash of one bank within the threshold."""

    bank: str
    distance: int
    category: str
    action: str


@dataclass(frozen=True, slots=True)
class _Loaded:
    fingerprint: str
    banks: LoadedBanks
    index: HashIndex


class KnownContent:
    """The banks of one folder, an index over them, and their reloads. Thread-safe."""

    def __init__(self, folder: Path, threshold: int = 31, reload_s: float = 10.0) -> None:
        self.folder = folder
        self.threshold = threshold
        self.reload_s = reload_s
        self._lock = threading.Lock()
        self._loaded = self._load(self._fingerprint())  # BankError at start-up
        self._checked = time.monotonic()

    @property
    def banks(self) -> LoadedBanks:
        return self._loaded.banks

    def match(self, digest: bytes) -> tuple[BankMatch, ...]:
        """The nearest entry of every bank within the threshold, nearest bank first."""
        self._maybe_reload()
        loaded = self._loaded
        nearest: dict[int, int] = {}
        for row, dist in loaded.index.search(digest, self.threshold):
            bank = int(loaded.banks.bank_of_row[row])
            nearest.setdefault(bank, dist)  # rows come nearest first
        specs = loaded.banks.specs
        return tuple(
            BankMatch(specs[b].name, d, specs[b].category, specs[b].action)
            for b, d in sorted(nearest.items(), key=lambda item: (item[1], specs[item[0]].name))
        )

    def reload_if_changed(self) -> bool:
        """Reload now if the files changed; True when new banks are in service."""
        with self._lock:
            self._checked = time.monotonic()
            fingerprint = self._fingerprint()
            if fingerprint == self._loaded.fingerprint:
                return False
            try:
                self._loaded = self._load(fingerprint)
            except BankError as exc:
                log.error("hash banks not reloaded, the previous ones stay in service: %s", exc)
                return False
        log.info("hash banks reloaded: %d hashes in %d banks", len(self._loaded.index), len(self.banks.specs))
        return True

    def _maybe_reload(self) -> None:
        if time.monotonic() - self._checked >= self.reload_s:
            self.reload_if_changed()

    def _fingerprint(self) -> str:
        """Names, sizes and modification times of the manifest and every bank file."""
        digest = hashlib.sha256()
        try:
            paths = [self.folder / MANIFEST] + [self.folder / s.file for s in read_manifest(self.folder)]
            for path in paths:
                stat = path.stat() if path.exists() else None
                digest.update(f"{path.name}:{stat and stat.st_size}:{stat and stat.st_mtime_ns};".encode())
        except OSError as exc:
            raise BankError(f"cannot read the banks in {self.folder}: {exc}") from exc
        return digest.hexdigest()[:32]

    def _load(self, fingerprint: str) -> _Loaded:
        banks = load_banks(self.folder)
        return _Loaded(fingerprint, banks, self._index(fingerprint, banks))

    def _index(self, fingerprint: str, banks: LoadedBanks) -> HashIndex:
        """Map the index saved for these files, or build and save it for the next worker."""
        cache_root = self.folder / ".index"
        saved = cache_root / fingerprint
        try:
            if saved.is_dir():
                index = HashIndex.load(saved)
                if len(index) == banks.hashes.shape[0]:
                    return index
            index = HashIndex.build(banks.hashes)
            staging = cache_root / f".{fingerprint}.{os.getpid()}"
            index.save(staging)
            if not saved.exists():
                # Atomic: another worker sees all of it or nothing. Two workers building
                # at once: the second rename fails and the first one's copy is used.
                with contextlib.suppress(OSError):
                    staging.replace(saved)
            shutil.rmtree(staging, ignore_errors=True)
            for old in cache_root.iterdir():  # indexes of earlier files
                if old.name != fingerprint and not old.name.startswith("."):
                    shutil.rmtree(old, ignore_errors=True)
            return HashIndex.load(saved)
        except (OSError, ValueError) as exc:
            # A read-only folder still works, with a private index per worker.
            log.warning("could not save the hash index beside the banks (%s); keeping it in memory", exc)
            return HashIndex.build(banks.hashes)
