"""``edgesuite data check`` finds planted faults and ``--fix`` removes the leaks (tiny data, seconds)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgesuite.common import datacheck as dc


def _image(kind: str, rng) -> np.ndarray:
    """Two classes a glance tells apart: a bright square, or a vertical bar, on dark noise."""
    a = rng.integers(0, 60, (24, 24, 3)).astype(np.uint8)
    if kind == "square":
        a[4:20, 4:20] = 200 + rng.integers(0, 40, (16, 16, 3))
    else:
        a[:, 10:14] = 180 + rng.integers(0, 40, (24, 4, 3))
    return a


@pytest.fixture(scope="module")
def planted_images(tmp_path_factory) -> Path:
    """train/ and test/ class folders holding: one image in train and test (a leak), a copy of a bar filed as a
    square (a relabelled duplicate), a 48-px resized copy (a near-duplicate), ten bars filed as squares."""
    root = tmp_path_factory.mktemp("planted") / "images"
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("test", 8)):
        for c in ("square", "bar"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(_image(c, rng)).save(root / split / c / f"{split}_{c}_{i:03d}.png")
    shutil.copy(root / "train/square/train_square_000.png", root / "test/square/leaked.png")
    shutil.copy(root / "train/bar/train_bar_001.png", root / "train/square/relabelled.png")
    Image.open(root / "train/square/train_square_002.png").resize((48, 48), Image.BILINEAR).save(
        root / "train/square/resized.png")
    for i in range(10):
        Image.fromarray(_image("bar", rng)).save(root / "train/square" / f"flipped_{i}.png")
    return root


def test_phash_keeps_a_resized_copy_near_and_tells_others_apart():
    rng = np.random.default_rng(1)
    a, b = _image("square", rng), _image("square", rng)
    big = np.asarray(Image.fromarray(a).resize((48, 48), Image.BILINEAR))
    assert np.bitwise_count(np.uint64(dc.phash(a) ^ dc.phash(big))) <= dc.NEAR_BITS
    assert np.bitwise_count(np.uint64(dc.phash(a) ^ dc.phash(b))) > dc.NEAR_BITS


def test_image_check_finds_each_planted_fault_and_fix_removes_the_leak(planted_images, tmp_path):
    from edgesuite.inspection import check_data

    result = check_data("image-classification", data=str(planted_images), out=str(tmp_path / "report"),
                        fix=str(tmp_path / "clean"))
    by_kind = {}
    for f in result.findings:
        by_kind.setdefault(f.kind, []).append(f)
    leak = [f for f in by_kind["leak"] if any(k.endswith("leaked.png") for k in f.keys)]
    assert leak and set(leak[0].splits) >= {"train", "test"}
    conflict = [f for f in by_kind["label-conflict"] if any(k.endswith("relabelled.png") for k in f.keys)]
    assert conflict and "bar" in conflict[0].given and "square" in conflict[0].given
    near = [f for f in by_kind["near-duplicate"] if any(k.endswith("resized.png") for k in f.keys)]
    assert near and any(k.endswith("train_square_002.png") for k in near[0].keys)
    flagged = {Path(f.keys[0]).name for f in by_kind.get("label-error", [])}
    planted = {f"flipped_{i}.png" for i in range(10)}
    assert len(flagged & planted) >= 9, flagged
    assert all(f.suggested == "bar" for f in by_kind["label-error"] if Path(f.keys[0]).name in planted)
    # the report and the cleaned copy
    for name in ("report.md", "report.html", "issues.csv", "plots/class_balance.png"):
        assert (tmp_path / "report" / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "report/issues.csv")))
    assert {"leak", "label-conflict", "near-duplicate", "label-error"} <= {r["kind"] for r in rows}
    report = (tmp_path / "report/report.md").read_text()
    assert "Dropped by --fix" in report and "leaked.png" in report
    clean = tmp_path / "clean"
    assert not list(clean.rglob("*leaked.png")) and not list(clean.rglob("*relabelled.png"))
    assert (planted_images / "test/square/leaked.png").exists()  # the user's folder is untouched
    again = check_data("image-classification", data=str(clean), out=str(tmp_path / "report2"), label_errors=False)
    assert not [f for f in again.findings if f.kind in ("leak", "exact-duplicate", "label-conflict")]
