"""Bad input, third round (issue 45), detection: class lists and sizes that crashed or misled, a size mismatch
that must be said per file, and predictions that overwrote each other."""

import json
import re
import shutil

import pytest

from edgesuite.apps.object_detection.config import Config
from edgesuite.apps.object_detection.data import load_splits
from edgesuite.cli import main
from edgesuite.common.errors import UserInputError


def _copy(canvas_folders, fmt, tmp_path):
    return shutil.copytree(canvas_folders[fmt] / "train", tmp_path / fmt)


def _load(root, strict=False):
    return load_splits(Config(data=str(root), image_size=32, strict=strict))


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("names:\n  0: a\n  x: b\n", "names key 'x' is not a class id; expected the integer ids 0..K-1"),
        ("names:\n  0.5: a\n  0: b\n", "names key 0.5 is not a class id"),
        ("names:\n  true: a\n  0: b\n", "names key True is not a class id"),
        (
            "names:\n  1: a\n  2: b\n",
            "names keys [1, 2] are not the class ids 0..1 that label files hold (missing [0])",
        ),
        ("names:\n  0: a\n  5: b\n", "names keys [0, 5] are not the class ids 0..1"),
        ("names: [a, null]\n", "class name None is a null, expected a string"),
        ("names: [[a, b], c]\n", "class name ['a', 'b'] is a list, expected a string"),
        ("names: [a, a]\n", "class name 'a' is listed twice"),
        ('names: ["a\\nb", c]\n', "class name 'a\\nb' holds the control character '\\n'"),
        ("nc: 3\nnames: [a, b]\n", "nc: 3 disagrees with the 2 classes under 'names:'"),
    ],
)
def test_a_yolo_class_list_that_is_no_list_of_ids_is_refused(canvas_folders, tmp_path, yaml_text, message):
    root = _copy(canvas_folders, "yolo", tmp_path)
    (root / "data.yaml").write_text(yaml_text)
    with pytest.raises(UserInputError, match=re.escape(f"{root / 'data.yaml'}") + ".*" + re.escape(message)):
        _load(root)


@pytest.mark.parametrize("width", ["inf", "nan", "-48", "1e30", "1e400", "47.5"])
def test_a_voc_size_that_is_not_whole_pixels_is_skipped_and_named(canvas_folders, tmp_path, capsys, width):
    root = _copy(canvas_folders, "voc", tmp_path)
    xml = root / "Annotations" / "train_00000.xml"
    xml.write_text(re.sub(r"<width>.*?</width>", f"<width>{width}</width>", xml.read_text()))
    splits = _load(root)
    assert "train_00000" not in " ".join(splits.train.names + splits.val.names + splits.test.names)
    err = capsys.readouterr().err
    assert f"{xml}: <size><width>{width}</width>: expected a whole number of pixels" in err
    with pytest.raises(UserInputError, match=re.escape(f"{xml}: <size><width>{width}</width>")):
        _load(root, strict=True)


def test_a_voc_size_of_0_or_none_reads_the_images_own(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "voc", tmp_path)
    for i, size in ((0, "<size><width>0</width><height>0</height></size>"), (1, "")):
        xml = root / "Annotations" / f"train_{i:05d}.xml"
        xml.write_text(re.sub(r"<size>.*?</size>", size, xml.read_text()))
    splits = _load(root, strict=True)
    assert sum(len(s) for s in (splits.train, splits.val, splits.test)) == 12


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["categories"].append(dict(d["categories"][0])), "category id 1 is listed twice"),
        (lambda d: d["categories"][0].update(name="a\nb"), "class name 'a\\nb' holds the control character"),
        (lambda d: d["categories"][0].update(name=["a"]), "class name ['a'] is a list"),
        (lambda d: d["categories"][0].update(id=True), "every entry of 'categories' needs an integer 'id'"),
    ],
)
def test_a_coco_category_list_that_names_no_classes_is_refused(canvas_folders, tmp_path, edit, message):
    root = _copy(canvas_folders, "coco", tmp_path)
    doc = json.loads((root / "annotations.json").read_text())
    edit(doc)
    (root / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(UserInputError, match=re.escape(message)):
        _load(root)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("image_id", [1], "refers to image id [1]"),
        ("image_id", {"a": 1}, "refers to image id {'a': 1}"),
        ("category_id", [1], "unknown category_id [1]"),
        ("bbox", [True, 1, 5, 5], "bbox [True, 1, 5, 5] is not [x, y, width, height]"),
    ],
)
def test_a_coco_annotation_field_of_the_wrong_kind_is_skipped_and_named(
    canvas_folders, tmp_path, capsys, field, value, message
):
    root = _copy(canvas_folders, "coco", tmp_path)
    doc = json.loads((root / "annotations.json").read_text())
    doc["annotations"][0][field] = value
    (root / "annotations.json").write_text(json.dumps(doc))
    _load(root)
    assert message in capsys.readouterr().err
    with pytest.raises(UserInputError, match=re.escape(message)):
        _load(root, strict=True)


def test_coco_sizes_that_disagree_with_the_files_are_named_per_file(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "coco", tmp_path)
    doc = json.loads((root / "annotations.json").read_text())
    for entry in doc["images"][:2]:
        entry["width"] = 96
    (root / "annotations.json").write_text(json.dumps(doc))
    _load(root)
    err = capsys.readouterr().err
    for name in ("train_00000.png", "train_00001.png"):
        assert (
            f"warning: {root / 'images' / name}: the annotations say 96x48 pixels, the image is 48x48; skipped" in err
        )
    for entry in doc["images"]:  # every one wrong: the error says so, after a warning for each
        entry["width"], entry["height"] = 96, 96
    (root / "annotations.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    code = main(["train", "object-detection", "--data", str(root), "--image-size", "32", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert sum(ln.startswith("warning: ") and "the annotations say 96x96 pixels" in ln for ln in err.splitlines()) == 12
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert errors == [
        f"error: none of the 12 annotated images is usable; the first: {root / 'images'}/"
        "train_00000.png: the annotations say 96x96 pixels, the image is 48x48 (each is named above)"
    ]
    assert not out.exists()


def test_predict_save_dir_keeps_inputs_of_one_name_apart(det_run, canvas_folders, tmp_path, capsys):
    for sub, n in (("a", 0), ("b", 1)):
        (tmp_path / sub).mkdir()
        shutil.copy(canvas_folders["yolo"] / "train" / "images" / f"train_{n:05d}.png", tmp_path / sub / "000.png")
    saved = tmp_path / "drawn"
    assert (
        main(
            [
                "predict",
                str(det_run),
                str(tmp_path / "a" / "000.png"),
                str(tmp_path / "b" / "000.png"),
                "--save-dir",
                str(saved),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in saved.iterdir()) == ["a_000_boxes.png", "b_000_boxes.png"]
    assert "note: 2 inputs share a file name" in capsys.readouterr().err
