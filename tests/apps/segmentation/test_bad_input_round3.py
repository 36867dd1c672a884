"""Bad input, third round (issue 45), segmentation: stray mask values that would add classes, class names
that break label files, and predictions that overwrote each other or had nowhere to go."""

import os
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from edgesuite.apps.segmentation.config import Config
from edgesuite.apps.segmentation.data import load_splits
from edgesuite.cli import main
from edgesuite.common.errors import UserInputError


def _load(root, **kw):
    return load_splits(Config(data=str(root), image_size=32, **kw))


def test_a_stray_value_far_above_the_classes_is_refused_with_the_masks_holding_it(pairs, capsys):
    """200 in 3 of 24 masks: 201 classes, 190 of them in no mask. Refused, naming value and masks; the
    --num-classes it suggests skips them, as it says."""
    (pairs / "classes.txt").unlink()
    for name in ("c003.png", "c010.png", "c017.png"):
        mask = np.asarray(Image.open(pairs / "masks" / name)).copy()
        mask[:2, :2] = 200
        Image.fromarray(mask).save(pairs / "masks" / name)
    with pytest.raises(UserInputError) as refused:
        _load(pairs)
    message = str(refused.value)
    assert "\n" not in message
    assert re.search(
        r"mask values 0\.\.8, 10, 200 would make 201 classes, 190 of them in no mask; 200 in 3 of "
        r"24 masks \(.*c003.png, .*c010.png, .*c017.png\)",
        message,
    ), message
    assert (
        "give --num-classes 11 to skip the masks holding them, --num-classes 201 if every id up to 200 is a "
        "class, or a classes.txt" in message
    )
    splits = _load(pairs, num_classes=11)
    assert len(splits.class_names) == 11
    assert "skipped 3 image/mask pairs" in capsys.readouterr().err


def test_masks_of_0_and_255_with_another_ignore_index_point_at_binary(pairs):
    (pairs / "classes.txt").unlink()
    for p in (pairs / "masks").iterdir():
        Image.fromarray(np.where(np.asarray(Image.open(p)) > 0, 255, 0).astype(np.uint8)).save(p)
    with pytest.raises(UserInputError, match="mask values 0, 255 would make 256 classes.* or --binary"):
        _load(pairs, ignore_index=100)


def test_a_class_name_with_a_control_character_is_refused(pairs):
    (pairs / "classes.txt").write_text("background\nt-shirt\ttop\n" + "x\n" * 9)
    with pytest.raises(
        UserInputError,
        match=re.escape(f"{pairs / 'classes.txt'}:2: class name 't-shirt\\ttop' holds the control character '\\t'"),
    ):
        _load(pairs)


def test_predict_save_dir_keeps_inputs_of_one_name_apart_and_refuses_a_file_or_read_only_folder(
    seg_run, pairs, tmp_path, capsys
):
    for sub, n in (("a", 0), ("b", 1)):
        (tmp_path / sub).mkdir()
        shutil.copy(pairs / "images" / f"c{n:03d}.png", tmp_path / sub / "000.png")
    inputs = [str(tmp_path / "a" / "000.png"), str(tmp_path / "b" / "000.png")]
    saved = tmp_path / "masks-out"
    assert main(["predict", str(seg_run), *inputs, "--save-dir", str(saved)]) == 0
    assert sorted(p.name for p in saved.iterdir()) == [
        "a_000_mask.png",
        "a_000_overlay.png",
        "b_000_mask.png",
        "b_000_overlay.png",
    ]
    assert not np.array_equal(
        np.asarray(Image.open(saved / "a_000_overlay.png")), np.asarray(Image.open(saved / "b_000_overlay.png"))
    )
    assert "note: 2 inputs share a file name" in capsys.readouterr().err
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    os.chmod(read_only, 0o555)  # the permission bits refuse, for root too
    try:
        for target, named in (
            (a_file, f"--save-dir {a_file}: is a file"),
            (read_only, f"--save-dir {read_only}: the folder is read-only"),
            (read_only / "sub", f"--save-dir {read_only / 'sub'}: the folder above it"),
        ):
            code = main(["predict", str(seg_run), *inputs, "--save-dir", str(target)])
            out = capsys.readouterr()
            errors = [ln for ln in out.err.splitlines() if ln.startswith("error:")]
            assert code == 2 and len(errors) == 1 and named in errors[0], out.err
            assert "Traceback" not in out.err
        assert list(read_only.iterdir()) == [] and a_file.read_text() == "x"
    finally:
        os.chmod(read_only, 0o755)
