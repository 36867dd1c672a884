"""COCO-style box metrics in numpy, computed the way pycocotools' COCOeval does (area 'all', 100 detections).

Why not call pycocotools here: it wants COCO JSON objects and ids, prints to
stdout, and is a compiled extra a board-side evaluation does not need; a test
runs pycocotools on the same predictions and checks agreement within 1e-3.

Per class and IoU threshold (0.50:0.05:0.95): detections of all images sorted
by score (each image's list cut to its best 100); each, in turn, matches the
unmatched ground-truth box it overlaps most with IoU >= the threshold; a
detection matched to a ``difficult`` (VOC) / crowd box is ignored, neither true
nor false, and such boxes do not count as positives. Precision is made
monotone and read at 101 recall points; AP is their mean. Classes with no
ground truth are left out of the mean, as in COCOeval.
"""

from __future__ import annotations

import numpy as np

from edgesuite.apps.object_detection.postprocess import iou_matrix

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS = 100


def _match(det_boxes, det_scores, gt_boxes, gt_ignore):
    """COCOeval.evaluateImg for one image and class: (T, D) matched flags, (T, D) ignored flags, order."""
    order = np.argsort(-det_scores, kind="mergesort")[:MAX_DETECTIONS]
    gt_order = np.argsort(gt_ignore, kind="mergesort")  # real boxes first, as COCOeval sorts them
    gt_boxes, gt_ignore = gt_boxes[gt_order], gt_ignore[gt_order]
    ious = iou_matrix(det_boxes[order], gt_boxes)
    t_count, d_count, g_count = len(IOU_THRESHOLDS), len(order), len(gt_boxes)
    matched = np.zeros((t_count, d_count), bool)
    ignored = np.zeros((t_count, d_count), bool)
    for t, thr in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(g_count, bool)
        for d in range(d_count):
            best, m = min(thr, 1 - 1e-10), -1
            for g in range(g_count):
                if taken[g]:
                    continue
                if m > -1 and not gt_ignore[m] and gt_ignore[g]:
                    break
                if ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m == -1:
                continue
            taken[m] = True
            matched[t, d] = True
            ignored[t, d] = gt_ignore[m]
    return matched, ignored, det_scores[order]


def evaluate(predictions: list[dict], truths: list[dict], num_classes: int) -> dict:
    """``predictions``/``truths``: per image dicts of ``boxes`` (k, 4) xyxy, ``classes`` (k,), plus ``scores``
    (predictions) and optionally ``difficult`` (truths). Returns precision (T, R, K), recall (T, K) and the AP table.
    """
    t_count = len(IOU_THRESHOLDS)
    precision = -np.ones((t_count, len(RECALL_POINTS), num_classes))
    recall = -np.ones((t_count, num_classes))
    for k in range(num_classes):
        scores, matched, ignored, positives = [], [], [], 0
        for pred, truth in zip(predictions, truths):
            gsel = np.asarray(truth["classes"]) == k
            gboxes = np.asarray(truth["boxes"], np.float64).reshape(-1, 4)[gsel]
            difficult = np.asarray(truth.get("difficult", np.zeros(len(truth["classes"]), bool)), bool)[gsel]
            dsel = np.asarray(pred["classes"]) == k
            if not gsel.any() and not dsel.any():
                continue
            m, ig, s = _match(
                np.asarray(pred["boxes"], np.float64).reshape(-1, 4)[dsel],
                np.asarray(pred["scores"], np.float64)[dsel],
                gboxes,
                difficult,
            )
            positives += int((~difficult).sum())
            scores.append(s)
            matched.append(m)
            ignored.append(ig)
        if positives == 0:
            continue
        s = np.concatenate(scores) if scores else np.zeros(0)
        order = np.argsort(-s, kind="mergesort")
        m = np.concatenate(matched, axis=1)[:, order] if scores else np.zeros((t_count, 0), bool)
        ig = np.concatenate(ignored, axis=1)[:, order] if scores else np.zeros((t_count, 0), bool)
        tp = np.cumsum(m & ~ig, axis=1).astype(np.float64)
        fp = np.cumsum(~m & ~ig, axis=1).astype(np.float64)
        for t in range(t_count):
            rc = tp[t] / positives
            pr = tp[t] / (tp[t] + fp[t] + np.spacing(1))
            recall[t, k] = rc[-1] if len(rc) else 0.0
            pr = np.maximum.accumulate(pr[::-1])[::-1] if len(pr) else pr
            idx = np.searchsorted(rc, RECALL_POINTS, side="left")
            q = np.zeros(len(RECALL_POINTS))
            ok = idx < len(pr)
            q[ok] = pr[idx[ok]]
            precision[t, :, k] = q
    return {"precision": precision, "recall": recall}


def _mean(values: np.ndarray) -> float:
    values = values[values > -1]
    return float(values.mean()) if values.size else 0.0


def detection_metrics(predictions: list[dict], truths: list[dict], class_names: list[str]) -> dict:
    """``map50``, ``map75``, ``map50_95``, ``recall`` (AR@100), ``recall50``, ``per_class`` -> AP figures."""
    ev = evaluate(predictions, truths, len(class_names))
    p, r = ev["precision"], ev["recall"]
    per_class = {}
    for k, name in enumerate(class_names):
        if r[0, k] < 0:
            continue
        per_class[name] = {"ap50": _mean(p[0, :, k]), "ap50_95": _mean(p[:, :, k]), "recall50": float(r[0, k])}
    return {
        "map50": _mean(p[0]),
        "map75": _mean(p[5]),
        "map50_95": _mean(p),
        "recall": _mean(r),
        "recall50": _mean(r[0]),
        "per_class": per_class,
        "pr_curve_50": {name: p[0, :, k].tolist() for k, name in enumerate(class_names) if r[0, k] >= 0},
    }
