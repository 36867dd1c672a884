"""Segmentation metrics from a confusion matrix: mIoU, per-class IoU, pixel accuracy, Dice (numpy only).

Pixels whose truth is the ignore index count nowhere. A class absent from both
truth and prediction has no IoU (0/0) and is left out of the means, as in
Pascal VOC and Keras' MeanIoU.
"""

from __future__ import annotations

import numpy as np


def confusion(truth: np.ndarray, pred: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """(K, K) counts, rows the true class, columns the predicted one."""
    truth, pred = np.asarray(truth).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    keep = (truth != ignore_index) & (truth < num_classes)
    return np.bincount(truth[keep] * num_classes + pred[keep], minlength=num_classes**2).reshape(num_classes, -1)


def from_confusion(conf: np.ndarray, class_names: list[str]) -> dict:
    conf = np.asarray(conf, dtype=np.float64)
    tp = np.diag(conf)
    fp, fn = conf.sum(0) - tp, conf.sum(1) - tp
    union = tp + fp + fn
    present = union > 0
    iou = np.where(present, tp / np.maximum(union, 1), np.nan)
    dice = np.where(present, 2 * tp / np.maximum(2 * tp + fp + fn, 1), np.nan)
    total = conf.sum()
    return {
        "miou": float(np.nanmean(iou)) if present.any() else 0.0,
        "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
        "dice": float(np.nanmean(dice)) if present.any() else 0.0,
        "per_class_iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(class_names, iou)},
        "pixels": int(total),
    }


def segmentation_metrics(truth: np.ndarray, pred: np.ndarray, class_names: list[str], ignore_index: int = 255) -> dict:
    """The metrics.json block: ``miou``, ``per_class_iou``, ``pixel_accuracy``, ``dice``."""
    return from_confusion(confusion(truth, pred, len(class_names), ignore_index), class_names)
