"""``moderation-worker banks``: create, add (hashes and images), list, remove; a running matcher sees it."""

from __future__ import annotations

from pathlib import Path

from moderation_lab.samples import png_bytes, sample_image
from PIL import Image
from typer.testing import CliRunner

from worker.cli import app
from worker.known.matcher import KnownContent
from worker.known.pdq import compute_pdq

runner = CliRunner()


def banks(folder: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["banks", *args, "--folder", str(folder)])
    return result.exit_code, result.output


def test_add_list_remove_and_a_running_matcher_follows(tmp_path: Path) -> None:
    image = tmp_path / "sample.png"
    image.write_bytes(png_bytes(sample_image(11)))
    other = compute_pdq(sample_image(12)).hex
    folder = tmp_path / "banks"
    assert banks(folder, "add", "demo", str(image))[0] == 1  # no category: cannot create
    create = ["--category", "test content", "--action", "block"]
    code, out = banks(folder, "add", "demo", str(image), other, *create)
    assert code == 0 and "added 2 of 2" in out
    assert "added 0 of 1" in banks(folder, "add", "demo", other)[1]  # already there
    code, out = banks(folder, "list")
    assert code == 0 and out.split("\t")[:4] == ["demo", "2 hashes", "test content", "block"]
    known = KnownContent(folder, reload_s=0.0)
    assert known.match(compute_pdq(sample_image(11)).digest)[0].bank == "demo"
    code, out = banks(folder, "remove", "demo", str(image))
    assert code == 0 and "removed 1 of 1" in out
    assert known.match(compute_pdq(sample_image(11)).digest) == ()
    assert banks(folder, "remove", "demo")[0] == 2  # neither entries nor --whole
    assert banks(folder, "remove", "demo", "--whole")[0] == 0
    assert "no banks" in banks(folder, "list")[1]


def test_bad_entries_are_refused_with_a_reason(tmp_path: Path) -> None:
    flat = tmp_path / "flat.png"
    Image.new("RGB", (50, 50), (1, 2, 3)).save(flat)
    code, out = banks(tmp_path, "add", "x", "not-a-hash", "--category", "c")
    assert code == 1 and "neither a hex PDQ hash nor an image file" in out
    code, out = banks(tmp_path, "add", "x", str(flat), "--category", "c")
    assert code == 1 and "too flat" in out
