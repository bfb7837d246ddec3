"""Bank files and manifests: both formats, comments, repeats, and errors that name the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.errors import BankError
from worker.known.banks import BankSpec, load_banks, read_hashes, read_manifest, write_manifest

A, B, C = "a" * 64, "0123456789abcdef" * 4, "f" * 64


def test_hex_format_takes_one_hash_a_line_with_comments_and_trailing_fields(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_text(f"# shared list\n{A}\n\n{B.upper()},id-7,2026-01-01\n{C} note  # why\n{A}\n")
    hashes = read_hashes(path, "hex")
    assert [row.tobytes().hex() for row in hashes] == [A, B, C]  # the repeat kept once


def test_a_file_of_bare_hashes_reads_the_same_by_the_fast_path(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    path.write_text(f"{C}\n{A}\n{C}\n{B}\n")
    assert [row.tobytes().hex() for row in read_hashes(path, "hex")] == [C, A, B]
    path.write_text(f"{A}\n{'g' * 64}\n")
    with pytest.raises(BankError, match=r"bank\.txt:2"):
        read_hashes(path, "hex")


def test_threatexchange_format_keeps_pdq_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "bank.tx"
    path.write_text(f"pdq {A}\nmd5 d41d8cd98f00b204e9800998ecf8427e\nPDQ {B} extra\n")
    assert [row.tobytes().hex() for row in read_hashes(path, "threatexchange")] == [A, B]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [(f"{A}\nabc\n", "hex", r"bank.txt:2: .*64 hex digits"), ("pdq\n", "threatexchange", r"bank.txt:1:")],
)
def test_a_malformed_line_is_an_error_naming_it(tmp_path: Path, text: str, fmt: str, message: str) -> None:
    path = tmp_path / "bank.txt"
    path.write_text(text)
    with pytest.raises(BankError, match=message):
        read_hashes(path, fmt)  # type: ignore[arg-type]


def test_manifest_round_trips_and_loads_every_bank(tmp_path: Path) -> None:
    (tmp_path / "one.txt").write_text(f"{A}\n{B}\n")
    (tmp_path / "two.tx").write_text(f"pdq {C}\n")
    specs = [
        BankSpec("one", "one.txt", "hex", "test category", "block"),
        BankSpec("two", "two.tx", "threatexchange", "other", "review"),
    ]
    write_manifest(tmp_path, specs)
    assert read_manifest(tmp_path) == specs
    banks = load_banks(tmp_path)
    assert banks.hashes.shape == (3, 32) and banks.bank_of_row.tolist() == [0, 0, 1]
    assert banks.count("one") == 2 and banks.count("two") == 1


def test_no_manifest_means_no_banks_and_a_bad_one_is_an_error(tmp_path: Path) -> None:
    assert load_banks(tmp_path).hashes.shape == (0, 32)
    bad_action = {"file": "x.txt", "category": "c", "action": "delete"}
    (tmp_path / "banks.json").write_text(json.dumps({"banks": {"x": bad_action}}))
    with pytest.raises(BankError, match="action must be one of"):
        load_banks(tmp_path)
    missing_file = {"file": "missing.txt", "category": "c"}
    (tmp_path / "banks.json").write_text(json.dumps({"banks": {"x": missing_file}}))
    with pytest.raises(BankError, match="cannot read bank file"):
        load_banks(tmp_path)
