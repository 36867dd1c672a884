"""mIoU, per-class IoU, pixel accuracy and Dice against values worked out by hand."""

import numpy as np
import pytest

from edgesuite.apps.segmentation.metrics import confusion, segmentation_metrics


def test_metrics_match_hand_computed_values_on_small_masks():
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255]])
    pred = np.array([[0, 1, 1, 1], [0, 0, 1, 0], [2, 0, 2, 1]])
    m = segmentation_metrics(truth, pred, ["bg", "a", "b", "c"])
    # valid pixels: the 10 not at 255. class 0: tp 3, fp 2 (truth 1 -> 0, truth 2 -> 0), fn 1 -> IoU 3/6
    # class 1: tp 3, fp 1, fn 1 -> 3/5; class 2: tp 1, fp 0, fn 1 -> 1/2; class 3 absent from both -> left out
    assert m["per_class_iou"] == {"bg": pytest.approx(0.5), "a": pytest.approx(0.6), "b": pytest.approx(0.5), "c": None}
    assert m["miou"] == pytest.approx((0.5 + 0.6 + 0.5) / 3)
    assert m["pixel_accuracy"] == pytest.approx(7 / 10)
    # Dice = 2tp / (2tp + fp + fn): 6/9, 6/8, 2/3
    assert m["dice"] == pytest.approx((6 / 9 + 6 / 8 + 2 / 3) / 3)
    assert m["pixels"] == 10


def test_a_class_only_predicted_counts_with_iou_zero_and_ignored_pixels_count_nowhere():
    truth = np.array([[0, 0], [255, 255]])
    pred = np.array([[0, 1], [1, 1]])
    m = segmentation_metrics(truth, pred, ["bg", "thing"])
    assert m["per_class_iou"] == {"bg": pytest.approx(0.5), "thing": 0.0}
    assert m["miou"] == pytest.approx(0.25)
    assert confusion(truth, pred, 2).tolist() == [[1, 1], [0, 0]]


def test_perfect_prediction_scores_one():
    truth = np.random.default_rng(0).integers(0, 5, (3, 16, 16))
    m = segmentation_metrics(truth, truth, list("abcde"))
    assert m["miou"] == m["pixel_accuracy"] == m["dice"] == 1.0
