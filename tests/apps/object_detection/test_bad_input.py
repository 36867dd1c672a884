"""Each kind of bad box file: a clear message naming the file and line; clipped or skipped and counted, or fatal
with --strict."""

import json
import shutil

import pytest

from edgesuite.apps.object_detection.config import Config
from edgesuite.apps.object_detection.data import load_splits
from edgesuite.cli import main
from edgesuite.common.errors import UserInputError


def _copy(canvas_folders, fmt, tmp_path):
    """The 12 training canvases of one format as a single folder (split by the loader)."""
    return shutil.copytree(canvas_folders[fmt] / "train", tmp_path / fmt)


def _load(root, strict=False):
    return load_splits(Config(data=str(root), image_size=32, strict=strict))


def _append(path, text):
    path.write_text(path.read_text() + text)


def test_a_box_reaching_outside_the_image_is_clipped_and_counted(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "yolo", tmp_path)
    label = root / "labels" / "train_00000.txt"
    _append(label, "1 0.95 0.5 0.3 0.2\n")  # x from 0.8 to 1.1 of the width
    line = len(label.read_text().splitlines())
    splits = _load(root)
    out = capsys.readouterr().out
    assert "clipped 1 boxes clipped to their image" in out and f"train_00000.txt:{line}" in out
    every = [b for part in (splits.train, splits.val, splits.test) for t in part.ground_truth() for b in t["boxes"]]
    assert max(b[2] for b in every) <= 32.0
    with pytest.raises(UserInputError, match=rf"train_00000.txt:{line}: .*reaches outside the 48x48 image"):
        _load(root, strict=True)


@pytest.mark.parametrize(
    "line, message",
    [
        ("1 0.5 0.5 0.0 0.2", "zero or negative area"),
        ("12 0.5 0.5 0.2 0.2", "unknown class id 12 \\(the data set has 10 classes, 0..9\\)"),
        ("1 0.5 0.5 0.2", "expected 5 fields 'class cx cy w h', found 4"),
        ("one 0.5 0.5 0.2 0.2", "expected an integer class and four numbers"),
        ("1 1.5 1.5 0.2 0.2", "lies outside the 48x48 image"),
    ],
)
def test_a_broken_yolo_line_is_skipped_with_a_count_or_fatal_when_strict(
    canvas_folders, tmp_path, capsys, line, message
):
    root = _copy(canvas_folders, "yolo", tmp_path)
    label = root / "labels" / "train_00003.txt"
    _append(label, line + "\n")
    number = len(label.read_text().splitlines())
    _load(root)
    err = capsys.readouterr().err
    assert "warning: skipped 1 boxes or files" in err and f"train_00003.txt:{number}" in err
    with pytest.raises(UserInputError, match=f"train_00003.txt:{number}: .*{message}"):
        _load(root, strict=True)


def test_a_label_file_for_a_missing_image_is_named(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "yolo", tmp_path)
    (root / "labels" / "ghost.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    splits = _load(root)
    assert "ghost.txt: label file for a missing image" in capsys.readouterr().err
    assert len(splits.train) + len(splits.val) + len(splits.test) == 12
    with pytest.raises(UserInputError, match="ghost.txt: label file for a missing image"):
        _load(root, strict=True)


def test_malformed_voc_xml_names_the_file_and_line(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "voc", tmp_path)
    xml = root / "Annotations" / "train_00002.xml"
    xml.write_text(xml.read_text().replace("</annotation>", "<object><name>bag</name>\n</annotation>"))
    splits = _load(root)
    err = capsys.readouterr().err
    assert "train_00002.xml:" in err and "malformed XML" in err
    assert len(splits.train) + len(splits.val) + len(splits.test) == 11
    with pytest.raises(UserInputError, match=r"train_00002.xml:\d+: malformed XML"):
        _load(root, strict=True)


def test_voc_difficult_boxes_are_kept_as_ignored_and_unknown_names_skipped(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "voc", tmp_path)
    xml = root / "Annotations" / "train_00001.xml"
    text = xml.read_text().replace("<difficult>0</difficult>", "<difficult>1</difficult>", 1)
    xml.write_text(
        text.replace(
            "</annotation>",
            "<object><name>unicorn</name><bndbox><xmin>2</xmin><ymin>2</ymin>"
            "<xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>",
        )
    )
    splits = _load(root)
    assert "train_00001.xml object #" in capsys.readouterr().err
    flags = [d for part in (splits.train, splits.val, splits.test) for t in part.ground_truth() for d in t["difficult"]]
    assert sum(flags) == 1
    with pytest.raises(UserInputError, match="unknown class 'unicorn'"):
        _load(root, strict=True)


def test_malformed_coco_json_is_an_error_with_its_line(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "coco", tmp_path)
    path = root / "annotations.json"
    lines = path.read_text().splitlines()
    lines[5] = lines[5] + ","  # a trailing comma on line 6 breaks the JSON
    path.write_text("\n".join(lines))
    code = main(["train", "object-detection", "--data", str(root), "--image-size", "32", "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}:" in err and "malformed JSON" in err


def test_coco_annotations_with_unknown_category_or_no_area_or_missing_image(canvas_folders, tmp_path, capsys):
    root = _copy(canvas_folders, "coco", tmp_path)
    path = root / "annotations.json"
    doc = json.loads(path.read_text())
    doc["annotations"] += [
        {"id": 900, "image_id": 1, "category_id": 77, "bbox": [1, 1, 5, 5]},
        {"id": 901, "image_id": 2, "category_id": 1, "bbox": [10, 10, -4, 5]},
        {"id": 902, "image_id": 999, "category_id": 1, "bbox": [1, 1, 5, 5]},
    ]
    path.write_text(json.dumps(doc))
    _load(root)
    err = capsys.readouterr().err
    assert "skipped 3 boxes or files" in err and "unknown category_id 77" in err and "zero or negative area" in err
    with pytest.raises(UserInputError, match=r"annotation #\d+ \(id 900\): unknown category_id 77"):
        _load(root, strict=True)
    code = main(["train", "object-detection", "--data", str(root), "--strict", "--image-size", "32", "--epochs", "1"])
    assert code == 2 and "unknown category_id 77" in capsys.readouterr().err


@pytest.mark.parametrize("doc, found", [("[]", "found list"), ("null", "found null"), ('"images"', "found str")])
def test_json_that_is_not_a_coco_object_is_named(canvas_folders, tmp_path, capsys, doc, found):
    root = _copy(canvas_folders, "coco", tmp_path)
    (root / "annotations.json").write_text(doc)
    out = tmp_path / "runs"
    code = main(
        ["train", "object-detection", "--data", str(root), "--image-size", "32", "--epochs", "1", "--out", str(out)]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {root / 'annotations.json'}: expected a COCO object")
    assert found in err and len(err.strip().splitlines()) == 1
    assert not (out / "object-detection").exists() or not any((out / "object-detection").iterdir())


def test_annotation_files_that_are_not_utf8_name_file_and_line(canvas_folders, tmp_path):
    coco = _copy(canvas_folders, "coco", tmp_path)
    path = coco / "annotations.json"
    path.write_bytes(path.read_bytes().replace(b'"categories"', '"catégories"'.encode("latin-1"), 1))
    with pytest.raises(
        UserInputError,
        match=r"annotations.json:\d+: byte 0xe9 at column \d+ is not valid utf-8 "
        r"text; save the file as utf-8",
    ):
        _load(coco)
    yolo = _copy(canvas_folders, "yolo", tmp_path)
    label = yolo / "labels" / "train_00001.txt"
    label.write_bytes(label.read_bytes() + "# étiquette\n".encode("latin-1"))
    with pytest.raises(UserInputError, match=r"train_00001.txt:\d+: byte 0xe9"):
        _load(yolo)
