"""Reading the labelled CSVs: both formats, local images, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.training.data import DatasetError, read_bias_csv, read_entailment_csv
from worker.training.evaluate import detect_task

from .conftest import ENTAILMENT_HEADER, entailment_rows, write_csv


def test_entailment_rows_keep_order_labels_and_local_images(tmp_path: Path, image_file: Path) -> None:
    rows = entailment_rows(5, image_url="https://img.example.org/x.jpg")
    header = [*ENTAILMENT_HEADER, "image_1_path", "image_2_path"]
    rows = [[*row, str(image_file), "missing/file.png"] for row in rows]
    pairs = read_entailment_csv(write_csv(tmp_path / "pairs.csv", header, rows))
    assert [p.label for p in pairs] == [
        "Implies",
        "Contradictory",
        "NoEntailment",
        "NoEntailment",
        "NoEntailment",
    ]
    assert pairs[0].id_1 == "a0" and pairs[0].first.text.startswith("breaking news")
    # A local file that exists is used; one that does not leaves the URL.
    assert pairs[0].first.image.path == image_file
    assert pairs[0].second.image.path is None
    assert pairs[0].second.image.key == "https://img.example.org/x.jpg"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id_1,text_1\n1,hello\n", "missing columns"),
        (",".join(ENTAILMENT_HEADER) + "\n", "has no rows"),
        (",".join(ENTAILMENT_HEADER) + "\na,t,,b,u,,Maybe\n", "label 'Maybe'"),
        (",".join(ENTAILMENT_HEADER) + "\na,t,,b, ,,Implies\n", "needs text or an image"),
    ],
)
def test_bad_entailment_csv_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        read_entailment_csv(path)


def test_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="cannot read"):
        read_entailment_csv(tmp_path / "absent.csv")


def test_bias_labels(tmp_path: Path) -> None:
    rows = [["a", "", "1"], ["b", "https://x.org/i.png", "unbiased"], ["c", "", "Biased"], ["d", "", "0"]]
    path = write_csv(tmp_path / "bias.csv", ["text", "image_url", "label"], rows)
    assert [e.label for e in read_bias_csv(path)] == [1, 0, 1, 0]
    write_csv(path, ["text", "image_url", "label"], [["a", "", "2"]])
    with pytest.raises(DatasetError, match="bias label '2'"):
        read_bias_csv(path)


def test_detect_task(tmp_path: Path) -> None:
    ent = write_csv(tmp_path / "e.csv", ENTAILMENT_HEADER, entailment_rows(1))
    bias = write_csv(tmp_path / "b.csv", ["text", "image_url", "label"], [["t", "", "1"]])
    other = write_csv(tmp_path / "o.csv", ["x"], [["1"]])
    assert detect_task(ent) == "entailment"
    assert detect_task(bias) == "bias"
    with pytest.raises(DatasetError, match="neither"):
        detect_task(other)
