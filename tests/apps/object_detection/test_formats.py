"""make-canvas writes COCO, VOC and YOLO; each loader reads back exactly the boxes the generator pasted."""

import numpy as np
import pytest

from edgesuite.apps.object_detection import formats
from edgesuite.common.canvas import make_canvases
from edgesuite.common.data import SkipLog


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_each_format_round_trips_the_canvas_boxes_exactly(canvas_folders, fmt):
    for split, count in (("train", 12), ("val", 2), ("test", 2)):
        expected = make_canvases(count, 48, split, seed=3)
        skips, clips = SkipLog("x", strict=True), SkipLog("y", strict=True)
        got = formats.read(canvas_folders[fmt] / split, "auto", skips, clips)
        assert got.class_names == expected.class_names
        by_name = {item.path.name: item for item in got.items}
        assert len(by_name) == count
        for i in range(count):
            item = by_name[f"{split}_{i:05d}.png"]
            assert (item.width, item.height) == (48, 48)
            order = np.lexsort(item.boxes.T[::-1])
            want = np.lexsort(expected.boxes[i].T[::-1])
            assert np.array_equal(item.boxes[order], expected.boxes[i][want]), (fmt, split, i)
            assert np.array_equal(item.classes[order], expected.classes[i][want])
            assert not item.difficult.any()


def test_the_app_loads_a_written_folder_with_its_splits_resized(canvas_folders):
    from edgesuite.apps.object_detection.config import Config
    from edgesuite.apps.object_detection.data import load_splits

    splits = load_splits(Config(data=str(canvas_folders["yolo"]), image_size=32, strict=True))
    assert (len(splits.train), len(splits.val), len(splits.test)) == (12, 2, 2)
    expected = make_canvases(12, 48, "train", seed=3)
    truth = splits.train.ground_truth()
    assert splits.train.images.shape == (12, 32, 32, 3)
    for i in range(12):  # boxes scale with the 48 -> 32 stretch
        assert np.allclose(np.sort(truth[i]["boxes"], 0), np.sort(expected.boxes[i] * 32 / 48, 0), atol=1e-5)


def test_make_canvas_refuses_a_folder_that_holds_files(tmp_path, capsys):
    from edgesuite.cli import main

    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    assert main(["data", "make-canvas", "--out", str(tmp_path / "taken"), "--format", "coco", "--count", "2"]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no half-written folder left"
