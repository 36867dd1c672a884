"""make-canvas writes COCO, VOC and YOLO; each loader reads back exactly the boxes the generator pasted."""

import numpy as np
import pytest

from edgesuite.apps.object_detection import formats
from edgesuite.common.canvas import make_canvases
from edgesuite.common.data import SkipLog


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_each_format_round_trips_the_canvas_boxes_exactly(canvas_folders, fmt):
    for split, count in (("train", 12), ("val", 2), ("test", 2)):
        expected = make_canvases(count, 48, split, seed=3, max_items=8 if split == "train" else 3)
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
    expected = make_canvases(12, 48, "train", seed=3, max_items=8)
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


def test_training_canvases_are_denser_and_the_scored_canvases_stay_as_they_were():
    """canvas_train_items packs more items into each training canvas; validation and test are exactly the
    canvases of canvas_items (3), so figures stay comparable across the change."""
    from edgesuite.apps.object_detection.config import Config
    from edgesuite.apps.object_detection.data import load_splits

    cfg = Config(canvas_count=300, image_size=64, seed=5)
    splits = load_splits(cfg)
    per_canvas = lambda s: float((s.classes >= 0).sum(1).mean())  # noqa: E731
    assert per_canvas(splits.train) > 1.25 * per_canvas(splits.val)
    assert (splits.train.classes >= 0).sum(1).max() > 3
    for part, split in ((splits.val, "val"), (splits.test, "test")):
        expected = make_canvases(len(part), 64, split, seed=5, max_items=3)
        assert np.array_equal(part.images, expected.images)
        for i, truth in enumerate(part.ground_truth()):
            assert np.array_equal(truth["boxes"], expected.boxes[i]) and np.array_equal(
                truth["classes"], expected.classes[i]
            )
    fewer = load_splits(Config(canvas_count=300, image_size=64, seed=5, canvas_train_items=3))
    assert np.array_equal(fewer.train.images, make_canvases(300, 64, "train", seed=5, max_items=3).images)
