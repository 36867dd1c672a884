"""COCO box metrics: agree with pycocotools on the same predictions, and with hand-computed small cases."""

import contextlib
import io

import numpy as np
import pytest

from edgesuite.apps.object_detection.metrics import detection_metrics

NAMES = ["cat", "dog", "bird"]


def _random_case(seed: int, images: int = 25):
    """Truth boxes and predictions near them (jittered, some with the wrong class), plus stray boxes."""
    rng = np.random.default_rng(seed)
    truths, preds = [], []
    for _ in range(images):
        k = rng.integers(0, 5)
        xy = rng.uniform(0, 70, (k, 2))
        wh = rng.uniform(8, 40, (k, 2))
        boxes = np.concatenate([xy, xy + wh], 1)
        classes = rng.integers(0, len(NAMES), k)
        truths.append({"boxes": boxes, "classes": classes})
        pb, pc, ps = [], [], []
        for b, c in zip(boxes, classes):
            for _ in range(rng.integers(0, 3)):
                pb.append(b + rng.normal(0, 3, 4))
                pc.append(c if rng.random() < 0.8 else rng.integers(0, len(NAMES)))
                ps.append(rng.uniform(0.05, 1))
        for _ in range(rng.integers(0, 3)):
            xy = rng.uniform(0, 70, 2)
            pb.append(np.concatenate([xy, xy + rng.uniform(5, 30, 2)]))
            pc.append(rng.integers(0, len(NAMES)))
            ps.append(rng.uniform(0.05, 0.6))
        preds.append({"boxes": np.asarray(pb).reshape(-1, 4), "classes": np.asarray(pc, int), "scores": np.asarray(ps)})
    return preds, truths


def _pycocotools(preds, truths):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(b):
        return [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]

    gt = {
        "images": [{"id": i + 1, "width": 120, "height": 120} for i in range(len(truths))],
        "categories": [{"id": k + 1, "name": n} for k, n in enumerate(NAMES)],
        "annotations": [],
    }
    for i, t in enumerate(truths):
        for b, c in zip(t["boxes"], t["classes"]):
            gt["annotations"].append(
                {
                    "id": len(gt["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": int(c) + 1,
                    "bbox": xywh(b),
                    "area": float((b[2] - b[0]) * (b[3] - b[1])),
                    "iscrowd": 0,
                }
            )
    dets = [
        {"image_id": i + 1, "category_id": int(c) + 1, "bbox": xywh(b), "score": float(s)}
        for i, p in enumerate(preds)
        for b, c, s in zip(p["boxes"], p["classes"], p["scores"])
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_and_per_class_ap_agree_with_pycocotools(seed):
    preds, truths = _random_case(seed)
    ours = detection_metrics(preds, truths, NAMES)
    ev = _pycocotools(preds, truths)
    assert abs(ours["map50_95"] - ev.stats[0]) < 1e-3
    assert abs(ours["map50"] - ev.stats[1]) < 1e-3
    assert abs(ours["map75"] - ev.stats[2]) < 1e-3
    assert abs(ours["recall"] - ev.stats[8]) < 1e-3
    precision = ev.eval["precision"][:, :, :, 0, 2]  # IoU x recall x class, area all, 100 detections
    for k, name in enumerate(NAMES):
        p = precision[:, :, k]
        if (p > -1).any():
            assert abs(ours["per_class"][name]["ap50_95"] - p[p > -1].mean()) < 1e-3
            assert abs(ours["per_class"][name]["ap50"] - p[0][p[0] > -1].mean()) < 1e-3
    assert 0.05 < ours["map50"] < 0.99  # a case that exercises misses, duplicates and wrong classes


def test_hand_computed_cases():
    box = np.array([[10.0, 10.0, 30.0, 30.0]])
    truth = [{"boxes": box, "classes": np.array([0])}]
    perfect = [{"boxes": box, "classes": np.array([0]), "scores": np.array([0.9])}]
    assert detection_metrics(perfect, truth, ["a"])["map50_95"] == pytest.approx(1.0)
    # a false box scoring above the true one: precision 1/2 at recall 1 -> AP 0.5 at every threshold
    worse = [
        {
            "boxes": np.vstack([[50.0, 50.0, 60.0, 60.0], box]),
            "classes": np.array([0, 0]),
            "scores": np.array([0.95, 0.9]),
        }
    ]
    assert detection_metrics(worse, truth, ["a"])["map50"] == pytest.approx(0.5)
    # shifted by 5 px: IoU 15*20/(2*400-300) = 0.6 -> a hit at 0.5 .. 0.6, a miss above: AP 3/10
    shifted = [{"boxes": box + [5, 0, 5, 0], "classes": np.array([0]), "scores": np.array([0.9])}]
    m = detection_metrics(shifted, truth, ["a"])
    assert m["map50"] == pytest.approx(1.0) and m["map50_95"] == pytest.approx(0.3)
    # a class that is in neither truth nor predictions is left out of the mean
    assert set(detection_metrics(perfect, truth, ["a", "b"])["per_class"]) == {"a"}


def test_a_detection_on_a_difficult_box_is_neither_hit_nor_miss():
    truth = [
        {
            "boxes": np.array([[10.0, 10, 30, 30], [50, 50, 70, 70]]),
            "classes": np.array([0, 0]),
            "difficult": np.array([False, True]),
        }
    ]
    found_both = [{"boxes": truth[0]["boxes"], "classes": np.array([0, 0]), "scores": np.array([0.8, 0.9])}]
    assert detection_metrics(found_both, truth, ["a"])["map50"] == pytest.approx(1.0)
    only_real = [{"boxes": truth[0]["boxes"][:1], "classes": np.array([0]), "scores": np.array([0.8])}]
    assert detection_metrics(only_real, truth, ["a"])["recall50"] == pytest.approx(1.0)
