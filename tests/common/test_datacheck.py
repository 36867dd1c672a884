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
        root / "train/square/resized.png"
    )
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

    result = check_data(
        "image-classification", data=str(planted_images), out=str(tmp_path / "report"), fix=str(tmp_path / "clean")
    )
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


def _kinds(result) -> dict:
    out = {}
    for f in result.findings:
        out.setdefault(f.kind, []).append(f)
    return out


def test_text_check_finds_a_relabelled_copy_a_leak_and_empty_rows(tmp_path):
    from edgesuite.inspection import check_data

    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "omega", "kappa", "sigma", "theta"]
    rows = [("great " + " ".join(rng.choice(words, 5)), "pos") for _ in range(30)]
    rows += [("awful " + " ".join(rng.choice(words, 5)), "neg") for _ in range(30)]
    rows += [(rows[0][0], "neg"), (rows[1][0].upper() + "!", "pos"), ("", "pos")]
    with open(tmp_path / "texts.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    result = check_data("text-classification", data=str(tmp_path / "texts.csv"), out=str(tmp_path / "report"), fix=True)
    kinds = _kinds(result)
    assert any(f.given and "neg" in f.given and "pos" in f.given for f in kinds["label-conflict"])
    assert kinds["near-duplicate"]  # the shouted copy
    assert len(kinds["empty-row"]) == 1
    clean = tmp_path / "report-cleaned"
    texts = [
        r["text"]
        for split in ("train", "val", "test")
        if (clean / f"{split}.csv").exists()
        for r in csv.DictReader(open(clean / f"{split}.csv"))
    ]
    assert rows[0][0] not in texts and len(texts) == len(set(t.lower().strip("!") for t in texts))


def test_translation_check_finds_duplicated_pairs_and_fix_drops_them(tmp_path):
    from edgesuite.inspection import check_data

    pairs = [(f"the house number {i}", f"la casa numero {i}") for i in range(40)]
    pairs += [pairs[3]] * 3 + [("Hello world", "hello world")]
    (tmp_path / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    result = check_data("translation", data=str(tmp_path / "pairs.tsv"), out=str(tmp_path / "report"), fix=True)
    kinds = _kinds(result)
    group = [f for f in kinds["exact-duplicate"] if len(f.keys) == 4]
    assert group and len(kinds["untranslated"]) == 1
    written = (tmp_path / "report-cleaned/pairs.tsv").read_text().splitlines()
    assert written.count("the house number 3\tla casa numero 3") == 1 and len(written) == len(pairs) - 3


def test_segmentation_check_finds_an_empty_mask(tmp_path):
    from edgesuite.inspection import check_data

    rng = np.random.default_rng(0)
    for sub in ("images", "masks"):
        (tmp_path / "seg" / sub).mkdir(parents=True)
    for i in range(12):
        image = rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)
        mask = np.zeros((32, 32), np.uint8)
        if i:
            mask[8 : 8 + i, 8:20] = 1
        Image.fromarray(image).save(tmp_path / "seg/images" / f"p{i:02d}.png")
        Image.fromarray(mask).save(tmp_path / "seg/masks" / f"p{i:02d}.png")
    result = check_data(
        "segmentation", data=str(tmp_path / "seg"), out=str(tmp_path / "report"), image_size=32, fix=True
    )
    empty = _kinds(result)["empty-mask"]
    assert len(empty) == 1 and empty[0].keys[0].endswith("p00.png")
    assert (
        (result.fixed / "train/masks/p05.png").exists()
        or (result.fixed / "val/masks/p05.png").exists()
        or (result.fixed / "test/masks/p05.png").exists()
    )
    assert "Class pixel shares" in (result.path / "report.md").read_text()


def test_detection_check_names_a_box_outside_its_image(tmp_path):
    from edgesuite.inspection import check_data

    rng = np.random.default_rng(0)
    root = tmp_path / "det"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "data.yaml").write_text("names:\n  0: square\n")
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3)).astype(np.uint8)).save(root / "images" / f"d{i}.png")
        lines = "0 0.5 0.5 0.25 0.25\n" + ("0 1.6 1.6 0.2 0.2\n" if i == 4 else "")
        (root / "labels" / f"d{i}.txt").write_text(lines)
    shutil.copy(root / "images/d1.png", root / "images/d1copy.png")
    shutil.copy(root / "labels/d1.txt", root / "labels/d1copy.txt")
    result = check_data("object-detection", data=str(root), out=str(tmp_path / "report"), image_size=32, fix=True)
    kinds = _kinds(result)
    assert len(kinds["box-outside"]) == 1 and "d4" in kinds["box-outside"][0].keys[0]
    assert kinds["exact-duplicate"]
    labels = list(result.fixed.rglob("labels/*.txt"))
    assert len(labels) == 10  # one of the two copies dropped


def test_cli_data_check_prints_a_summary_and_names_bad_data(tmp_path, capsys):
    from edgesuite.cli import main

    pairs = [(f"word {i}", f"palabra {i}") for i in range(20)] + [("word 1", "palabra 1")]
    (tmp_path / "p.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    assert (
        main(["data", "check", "translation", "--data", str(tmp_path / "p.tsv"), "--report", str(tmp_path / "r")]) == 0
    )
    out = capsys.readouterr().out
    assert "exact-duplicates 1" in out and "report:" in out
    assert main(["data", "check", "translation", "--data", str(tmp_path / "missing.tsv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.tsv" in err[0]
    assert not (tmp_path / "r").with_name(".r.partial").exists()
    (tmp_path / "afile").write_text("x")
    assert (
        main(["data", "check", "translation", "--data", str(tmp_path / "p.tsv"), "--report", str(tmp_path / "afile")])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--report" in err[0] and "afile" in err[0]
