"""A small real corpus cut from the embedded Rotten Tomatoes file, and one trained run on it."""

import csv
from pathlib import Path

import pytest


def corpus_rows(per_class: int = 200) -> list[dict]:
    """The first ``per_class`` non-empty rows of each category of the embedded corpus."""
    from edgesuite.common.datasets import rotten_tomatoes as rt

    rows, seen = [], {}
    with rt.open_text() as f:
        for row in csv.DictReader(f):
            c = row["category"]
            if row["text"].strip() and seen.get(c, 0) < per_class:
                seen[c] = seen.get(c, 0) + 1
                rows.append({"text": row["text"][:300], "label": c})
    return rows


def write_csv(path: Path, rows: list[dict], **kwargs) -> Path:
    with open(path, "w", newline="", encoding=kwargs.pop("encoding", "utf-8")) as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), **kwargs)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="session")
def text_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("text") / "reviews.csv", corpus_rows())


@pytest.fixture(scope="session")
def text_run(text_csv, tmp_path_factory) -> Path:
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("text-runs")
    assert (
        main(
            [
                "train",
                "text-classification",
                "--data",
                str(text_csv),
                "--model",
                "bow",
                "--epochs",
                "6",
                "--batch-size",
                "32",
                "--vocab-size",
                "600",
                "--max-length",
                "32",
                "--bigram-buckets",
                "500",
                "--embed-dim",
                "16",
                "--lr",
                "0.02",
                "--early-stopping",
                "0",
                "--out",
                str(out),
                "--name",
                "shared",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    return out / "text-classification" / "shared"
