"""Hash banks: named lists of PDQ hashes of content already judged, each with what a match implies.

A platform keeps its banks in one folder, described by ``banks.json``::

    {"banks": {
        "terror-shared": {"file": "terror-shared.txt", "format": "hex",
                          "category": "terrorist content", "action": "block"},
        "ncii-reports":  {"file": "ncii.tx", "format": "threatexchange",
                          "category": "non-consensual imagery", "action": "review"}}}

File formats (``#`` starts a comment; blank lines are skipped):

- ``hex``: one 64-hex-digit PDQ hash per line, optionally followed by a comma or
  whitespace and anything else (an id, a note), which is ignored.
- ``threatexchange``: lines of ``SIGNAL_TYPE HASH ...`` as the ``threatexchange`` CLI
  prints them (``tx hash photo FILE`` answers ``pdq <hash>``); lines of other signal
  types (``md5``, ``video_md5``...) are skipped, as PDQ cannot match them.

A malformed line is an error naming its file and line, never skipped quietly: a bank
that silently lost entries would miss the content it exists to catch.

Example::

    banks = load_banks(Path("/etc/moderation/banks"))
    banks.hashes.shape, banks.bank_of_row[:3], banks.specs[0].name
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, get_args

import numpy as np
import numpy.typing as npt

from worker.errors import BankError
from worker.known.pdq import HASH_BYTES, parse_hex

__all__ = ["MANIFEST", "Action", "BankFormat", "BankSpec", "LoadedBanks", "load_banks", "read_hashes"]

MANIFEST: Final = "banks.json"
BankFormat = Literal["hex", "threatexchange"]
#: What a platform does on a match; carried into the verdict for whoever enforces it.
Action = Literal["block", "review", "flag"]


@dataclass(frozen=True, slots=True)
class BankSpec:
    """One bank as the manifest describes it."""

    name: str
    file: str
    format: BankFormat
    category: str
    action: Action

    def to_json(self) -> dict[str, str]:
        return {"file": self.file, "format": self.format, "category": self.category, "action": self.action}


@dataclass(frozen=True, slots=True)
class LoadedBanks:
    """Every bank's hashes in one array; ``bank_of_row[i]`` indexes ``specs``."""

    specs: tuple[BankSpec, ...]
    hashes: npt.NDArray[np.uint8]  # (n, 32)
    bank_of_row: npt.NDArray[np.uint16]

    def count(self, name: str) -> int:
        position = [spec.name for spec in self.specs].index(name)
        return int(np.count_nonzero(self.bank_of_row == position))


def read_manifest(folder: Path) -> list[BankSpec]:
    """The banks ``folder/banks.json`` names; an absent manifest means no banks."""
    path = folder / MANIFEST
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = raw["banks"]
        return [_spec(name, entry) for name, entry in entries.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BankError(f"{path}: not a valid bank manifest: {exc}") from exc


def _spec(name: str, entry: dict[str, str]) -> BankSpec:
    fmt, action = entry.get("format", "hex"), entry.get("action", "flag")
    if fmt not in get_args(BankFormat):
        raise ValueError(f"bank {name!r}: format must be one of {get_args(BankFormat)}, not {fmt!r}")
    if action not in get_args(Action):
        raise ValueError(f"bank {name!r}: action must be one of {get_args(Action)}, not {action!r}")
    if not name or "/" in name or not str(entry["category"]).strip():
        raise ValueError(f"bank {name!r} needs a plain name and a category")
    return BankSpec(name, str(entry["file"]), fmt, str(entry["category"]), action)  # type: ignore[arg-type]


def write_manifest(folder: Path, specs: list[BankSpec]) -> None:
    """Replace the manifest atomically (readers never see half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"banks": {s.name: s.to_json() for s in specs}}, indent=2) + "\n"
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(folder / MANIFEST)


def read_hashes(path: Path, fmt: BankFormat) -> npt.NDArray[np.uint8]:
    """The hashes of one bank file as an ``(n, 32)`` array (repeats kept once)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BankError(f"cannot read bank file {path}: {exc}") from exc
    if fmt == "hex" and all(len(line) == 2 * HASH_BYTES for line in lines):
        plain = _plain_hex(lines)
        if plain is not None:
            return plain
    digests: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.replace(",", " ").split()
        if fmt == "threatexchange":
            if len(fields) < 2:
                raise BankError(f"{path}:{number}: expected 'SIGNAL_TYPE HASH', got {line!r}")
            if fields[0].lower() != "pdq":
                continue
            fields = fields[1:]
        try:
            digests.append(parse_hex(fields[0]))
        except ValueError as exc:
            raise BankError(f"{path}:{number}: {exc}") from exc
    unique = list(dict.fromkeys(digests))
    return np.frombuffer(b"".join(unique), dtype=np.uint8).reshape(-1, HASH_BYTES)


def _plain_hex(lines: list[str]) -> npt.NDArray[np.uint8] | None:
    """A file of bare hashes decoded in one ``bytes.fromhex`` call rather than a Python
    step per line (10 million lines: 26 s on a busy 2-core machine); ``None`` sends
    anything unusual to the line-by-line reader, which names the bad line."""
    try:
        raw = bytes.fromhex("".join(lines))
    except ValueError:
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, HASH_BYTES)
    # Repeats kept once, in file order: sorting by the first 64 bits (5x faster than
    # np.unique on whole rows) brings a repeat next to its first copy, unless another
    # hash with the same first 64 bits sits between them, where it stays (harmlessly).
    words = rows.view(np.uint64)
    order = np.argsort(words[:, 0], kind="stable")
    ranked = words[order]
    repeats = order[1:][np.all(ranked[1:] == ranked[:-1], axis=1)]
    keep = np.ones(rows.shape[0], dtype=bool)
    keep[repeats] = False
    return rows[keep]


def load_banks(folder: Path) -> LoadedBanks:
    """Every bank of ``folder`` (see the module docstring), or :class:`BankError`."""
    specs = read_manifest(folder)
    arrays, owners = [], []
    for position, spec in enumerate(specs):
        hashes = read_hashes(folder / spec.file, spec.format)
        arrays.append(hashes)
        owners.append(np.full(hashes.shape[0], position, dtype=np.uint16))
    if not arrays:
        return LoadedBanks((), np.empty((0, HASH_BYTES), np.uint8), np.empty(0, np.uint16))
    return LoadedBanks(tuple(specs), np.concatenate(arrays), np.concatenate(owners))
