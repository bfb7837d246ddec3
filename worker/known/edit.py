"""Adding and removing bank entries: what ``moderation-worker banks`` does to the files.

Every change rewrites the bank file and the manifest atomically (write aside, rename),
so a worker polling the folder reads the old file or the new one, never half of one;
the workers pick the change up within ``known_reload_s``, without a restart.

Entries are given as hex PDQ hashes or as image files, hashed here with PDQ.

Example::

    add_entries(folder, "demo", ["a1b2...", Path("sample.png")], category="test", action="block")
    remove_entries(folder, "demo", ["a1b2..."])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from worker.errors import BankError
from worker.known.banks import Action, BankSpec, read_hashes, read_manifest, write_manifest
from worker.known.pdq import compute_pdq, parse_hex

__all__ = ["add_entries", "entry_digest", "remove_bank", "remove_entries"]


def entry_digest(entry: str) -> bytes:
    """A hex PDQ hash as given, or the PDQ hash of the image file of that name."""
    path = Path(entry)
    if not path.exists():
        try:
            return parse_hex(entry)
        except ValueError as exc:
            raise BankError(f"{entry!r} is neither a hex PDQ hash nor an image file") from exc
    try:
        with Image.open(path) as image:
            pdq = compute_pdq(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise BankError(f"cannot hash image {path}: {exc}") from exc
    if pdq.quality < 50:
        raise BankError(f"{path} is too flat to hash reliably (PDQ quality {pdq.quality} < 50)")
    return pdq.digest


def _write_hashes(path: Path, digests: Sequence[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(d.hex() + "\n" for d in digests), encoding="utf-8")
    tmp.replace(path)


def _current(folder: Path, spec: BankSpec) -> list[bytes]:
    path = folder / spec.file
    return [row.tobytes() for row in read_hashes(path, spec.format)] if path.exists() else []


def add_entries(
    folder: Path, bank: str, entries: Sequence[str], category: str | None = None, action: Action | None = None
) -> int:
    """Add entries to ``bank`` (created when ``category`` is given); the number added."""
    specs = read_manifest(folder)
    spec = next((s for s in specs if s.name == bank), None)
    if spec is None:
        if not category:
            raise BankError(f"no bank {bank!r} yet: give --category (and --action) to create it")
        spec = BankSpec(bank, f"{bank}.txt", "hex", category, action or "flag")
        specs.append(spec)
    elif category or action:
        spec = BankSpec(spec.name, spec.file, spec.format, category or spec.category, action or spec.action)
        specs = [spec if s.name == bank else s for s in specs]
    current = _current(folder, spec)
    new = [d for d in dict.fromkeys(entry_digest(e) for e in entries) if d not in set(current)]
    folder.mkdir(parents=True, exist_ok=True)
    if spec.format != "hex":  # rewriting keeps PDQ lines only: say so in the format too
        spec = BankSpec(spec.name, spec.file, "hex", spec.category, spec.action)
        specs = [spec if s.name == bank else s for s in specs]
    _write_hashes(folder / spec.file, current + new)
    write_manifest(folder, specs)
    return len(new)


def remove_entries(folder: Path, bank: str, entries: Sequence[str]) -> int:
    """Remove entries from ``bank``; the number removed."""
    spec = next((s for s in read_manifest(folder) if s.name == bank), None)
    if spec is None:
        raise BankError(f"no bank {bank!r} in {folder}")
    gone = {entry_digest(e) for e in entries}
    current = _current(folder, spec)
    kept = [d for d in current if d not in gone]
    _write_hashes(folder / spec.file, kept)
    if spec.format != "hex":
        specs = [
            BankSpec(s.name, s.file, "hex", s.category, s.action) if s.name == bank else s
            for s in read_manifest(folder)
        ]
        write_manifest(folder, specs)
    return len(current) - len(kept)


def remove_bank(folder: Path, bank: str) -> None:
    """Take ``bank`` out of the manifest; its file is left for the record."""
    specs = read_manifest(folder)
    if not any(s.name == bank for s in specs):
        raise BankError(f"no bank {bank!r} in {folder}")
    write_manifest(folder, [s for s in specs if s.name != bank])
