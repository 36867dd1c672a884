"""How far item classification caps mIoU and mAP on the default canvases (not a test).

    python tests/benchmarks/bench_canvas_ceiling.py --classifier RUN [--segmentation RUN] [--detection RUN]

The canvases hold Fashion-MNIST items of the embedded subset (9,000 training
images), and every item's pixels or box carry its class. So a segmenter or a
detector trained on them can at best tell the items apart as well as a
classifier trained on the same items. This script measures that bound:

1. ``--classifier``: an image-classification run trained on the embedded subset
   (``edgesuite train image-classification``). Each item pasted on the default
   test canvases (the apps' ``canvas`` data, seed 0) is classified from its
   source image (28 x 28, clean, where the classifier is best), then
   - segmentation: the exact silhouettes painted with the predicted class: mIoU
     with perfect shapes (``oracle_shapes_miou``);
   - detection: the exact boxes, each reported once per class scored by the
     classifier's probability (what the class-aware NMS of the app keeps):
     mAP@0.5 with perfect boxes (``oracle_boxes_map50``).
2. ``--segmentation``: a segmentation run; its test mIoU split into shape and
   class: each item's pixels painted with the class the model gives most of them
   (``model_classes_miou``, perfect shapes), and foreground/background IoU
   (``foreground_iou``, classes ignored).
3. ``--detection``: a detection run; its test mAP@0.5 with every detection's
   class replaced by that of the true box it overlaps most (IoU >= 0.5), which
   leaves only localisation and ranking errors (``class_blind_map50``).

Writes ``bench_canvas_ceiling.json`` under --out and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SEG_COUNT, DET_COUNT = 500, 500  # the apps' held-out canvases at their default canvas_count


def _source_probabilities(classifier: Path, split: str) -> np.ndarray:
    from edgesuite.api import Run
    from edgesuite.common.canvas import source_images

    x, _ = source_images(split)
    model = Run.open(classifier).load_model()
    return np.asarray(model.predict(x[..., None], batch_size=256, verbose=0))


def _items_of(c):
    """Per canvas the boolean silhouette of each item, in box order (its class's pixels inside its box: where
    two items of one class have overlapping boxes, each also takes the other's pixels there; rare at 1-3 items)."""
    sils = []
    for mask, boxes, classes in zip(c.masks, c.boxes, c.classes):
        per = []
        for (x1, y1, x2, y2), k in zip(boxes.astype(int), classes):
            s = np.zeros(mask.shape, bool)
            s[y1:y2, x1:x2] = mask[y1:y2, x1:x2] == k + 1
            per.append(s)
        sils.append(per)
    return sils


def classifier_bound(classifier: Path) -> dict:
    from edgesuite.apps.object_detection.metrics import detection_metrics
    from edgesuite.apps.segmentation.metrics import segmentation_metrics
    from edgesuite.common.canvas import make_canvases, source_images

    probs = _source_probabilities(classifier, "test")
    _, y = source_images("test")
    out = {"classifier": str(classifier), "source_accuracy": float((probs.argmax(1) == y).mean())}

    seg = make_canvases(SEG_COUNT, 64, "test", seed=0)
    pred = seg.masks.copy()
    for n, sils in enumerate(_items_of(seg)):
        for s, item in zip(sils, seg.items[n]):
            pred[n][s] = probs[item].argmax() + 1
    m = segmentation_metrics(seg.masks, pred, seg.mask_class_names)
    items = np.concatenate(seg.items)
    out["segmentation"] = {
        "canvases": SEG_COUNT,
        "pasted_items": int(len(items)),
        "pasted_accuracy": float((probs[items].argmax(1) == y[items]).mean()),
        "oracle_shapes_miou": m["miou"],
        "per_class_iou": m["per_class_iou"],
    }

    det = make_canvases(DET_COUNT, 64, "test", seed=0, max_items=3)
    k = len(det.class_names)
    truths = [{"boxes": b, "classes": c} for b, c in zip(det.boxes, det.classes)]
    preds = [
        {"boxes": np.repeat(b, k, axis=0), "classes": np.tile(np.arange(k), len(b)), "scores": probs[items_].ravel()}
        for b, items_ in zip(det.boxes, det.items)
    ]
    d = detection_metrics(preds, truths, det.class_names)
    out["detection"] = {
        "canvases": DET_COUNT,
        "oracle_boxes_map50": d["map50"],
        "per_class_ap50": {n: v["ap50"] for n, v in d["per_class"].items()},
    }
    return out


def segmentation_split(run_path: Path) -> dict:
    from edgesuite.api import Run
    from edgesuite.apps.segmentation.metrics import segmentation_metrics
    from edgesuite.common.canvas import make_canvases

    run = Run.open(run_path)
    cfg = run.config
    c = make_canvases(max(50, min(500, cfg.canvas_count // 6)), cfg.image_size, "test", seed=cfg.seed)
    pred = np.asarray(run.load_model().predict(c.images, batch_size=64, verbose=0)).argmax(-1).astype(np.uint8)
    names = c.mask_class_names
    voted = c.masks.copy()
    correct = total = 0
    for n, sils in enumerate(_items_of(c)):
        for s, true in zip(sils, c.classes[n]):
            votes = np.bincount(pred[n][s], minlength=len(names))[1:]  # the item's pixels, background left out
            voted[n][s] = votes.argmax() + 1
            correct += int(votes.argmax() == true)
            total += 1
    fg = (c.masks > 0), (pred > 0)
    return {
        "run": str(run_path),
        "model_miou": segmentation_metrics(c.masks, pred, names)["miou"],
        "model_classes_miou": segmentation_metrics(c.masks, voted, names)["miou"],
        "item_vote_accuracy": correct / max(total, 1),
        "foreground_iou": float((fg[0] & fg[1]).sum() / max((fg[0] | fg[1]).sum(), 1)),
    }


def detection_split(run_path: Path) -> dict:
    from edgesuite.api import Run
    from edgesuite.apps.object_detection import postprocess as codec
    from edgesuite.apps.object_detection.metrics import detection_metrics
    from edgesuite.common.canvas import make_canvases

    run = Run.open(run_path)
    cfg, info = run.config, run.info
    c = make_canvases(
        max(50, min(500, cfg.canvas_count // 6)), cfg.image_size, "test", seed=cfg.seed, max_items=cfg.canvas_items
    )
    raw = np.asarray(run.load_model().predict(c.images, batch_size=64, verbose=0))
    found = codec.detections(raw, run.task.serving.metadata(info))
    truths = [{"boxes": b, "classes": k} for b, k in zip(c.boxes, c.classes)]
    preds, blind = [], []
    for f, t in zip(found, truths):
        p = {**f, "boxes": f["boxes"] * cfg.image_size}
        preds.append(p)
        iou = codec.iou_matrix(p["boxes"], t["boxes"])
        if iou.size:  # a detection on a true box takes that box's class; the others keep theirs
            cls = np.where(iou.max(1) >= 0.5, t["classes"][iou.argmax(1)], p["classes"])
            keep = codec.nms(p["boxes"], p["scores"], cls, cfg.iou_threshold, 0.0, len(cls))  # now-duplicates go
            p = {"boxes": p["boxes"][keep], "scores": p["scores"][keep], "classes": cls[keep]}
        blind.append(p)
    names = c.class_names
    return {
        "run": str(run_path),
        "model_map50": detection_metrics(preds, truths, names)["map50"],
        "class_blind_map50": detection_metrics(blind, truths, names)["map50"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classifier", required=True, help="an image-classification run on the embedded subset")
    ap.add_argument("--segmentation", default=None, help="a segmentation run on the default canvases")
    ap.add_argument("--detection", default=None, help="a detection run on the default canvases")
    ap.add_argument("--out", default=".", help="folder for bench_canvas_ceiling.json")
    args = ap.parse_args()
    result = classifier_bound(Path(args.classifier))
    s, d = result["segmentation"], result["detection"]
    print(
        f"classifier: {result['source_accuracy']:.4f} on the 1,000 test-pool images, "
        f"{s['pasted_accuracy']:.4f} on the {s['pasted_items']} items pasted on {s['canvases']} test canvases"
    )
    print(f"segmentation, perfect shapes + classifier classes: mIoU {s['oracle_shapes_miou']:.4f}")
    print(f"detection, perfect boxes + classifier scores:      mAP@0.5 {d['oracle_boxes_map50']:.4f}")
    if args.segmentation:
        result["segmentation_run"] = r = segmentation_split(Path(args.segmentation))
        print(
            f"segmentation run: mIoU {r['model_miou']:.4f}; its per-item majority class on perfect shapes "
            f"{r['model_classes_miou']:.4f} (item accuracy {r['item_vote_accuracy']:.4f}); "
            f"foreground IoU {r['foreground_iou']:.4f}"
        )
    if args.detection:
        result["detection_run"] = r = detection_split(Path(args.detection))
        print(
            f"detection run: mAP@0.5 {r['model_map50']:.4f}; classes set from the overlapped true box "
            f"{r['class_blind_map50']:.4f}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_canvas_ceiling.json").write_text(json.dumps(result, indent=2))
    print(f"saved: {out / 'bench_canvas_ceiling.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
