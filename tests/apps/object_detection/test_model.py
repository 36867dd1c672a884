"""The detector's targets, loss and in-graph NMS (the same detections as the numpy postprocess)."""

import numpy as np
import pytest

from edgesuite.apps.object_detection import model as dmodel
from edgesuite.apps.object_detection.postprocess import detections

SIZE, K = 32, 3


def test_targets_mark_the_points_near_a_box_centre_with_its_class_box_and_centreness():
    boxes = np.array([[[4.0, 4.0, 20.0, 12.0], [0, 0, 0, 0]]], np.float32)
    labels = np.array([[2.0, -1.0]], np.float32)
    t = dmodel.assign_targets(boxes, labels, SIZE, K).numpy()[0]  # (64, 8): 8x8 grid at stride 4
    positive = t[:, 4 : 4 + K].sum(-1) > 0
    cx, cy = (c * SIZE for c in dmodel.grid_centres(SIZE))
    inside = (cx > 4) & (cx < 20) & (cy > 4) & (cy < 12) & (abs(cx - 12) < 6) & (abs(cy - 8) < 6)
    assert np.array_equal(positive, inside) and positive.sum() == 4  # x in {10, 14}, y in {6, 10}
    assert (t[positive, 4 + 2] == 1).all() and np.allclose(t[positive, :4], np.array([4, 4, 20, 12]) / SIZE)
    best = np.argmax(t[:, 4 + K])
    assert (cx[best], cy[best]) in ((10.0, 6.0), (14.0, 6.0), (10.0, 10.0), (14.0, 10.0))
    assert (t[~positive] == 0).all()


def test_loss_is_lower_for_the_right_boxes_than_for_shifted_ones():
    truth = np.array([[[4.0, 4.0, 20.0, 12.0, 1.0]]], np.float32)
    t = dmodel.assign_targets(truth[..., :4], truth[..., 4], SIZE, K).numpy()
    cx, cy = dmodel.grid_centres(SIZE)
    pos = t[0, :, 4 : 4 + K].sum(-1) > 0

    def prediction(shift):
        p = np.full((1, 64, 5 + K), 0.01, np.float32)
        p[0, :, 4 + K] = 0.5
        box = t[0, pos, :4] + shift / SIZE
        p[0, pos, 0], p[0, pos, 1] = cx[pos] - box[:, 0], cy[pos] - box[:, 1]
        p[0, pos, 2], p[0, pos, 3] = box[:, 2] - cx[pos], box[:, 3] - cy[pos]
        p[0, pos, 4 + 1] = 0.9
        return p

    loss = dmodel.DetectionLoss(K, SIZE)
    right, shifted = float(loss(truth, prediction(0.0))), float(loss(truth, prediction(3.0)))
    assert np.isfinite(right) and right < shifted


def test_a_look_alike_class_on_an_items_points_keeps_its_full_cross_entropy():
    """Focal weighting stays on background points; on an item's points the wrong classes are plain BCE."""
    truth = np.array([[[4.0, 4.0, 20.0, 12.0, 1.0]]], np.float32)
    t = dmodel.assign_targets(truth[..., :4], truth[..., 4], SIZE, K).numpy()
    pos = t[0, :, 4 : 4 + K].sum(-1) > 0
    p = np.full((1, 64, 5 + K), 1e-4, np.float32)
    p[0, :, 4 + K] = 0.5
    p[0, pos, 4 + 1] = 0.6  # the right class, unsure

    def loss_with(look_alike: float, positive_weight):
        q = p.copy()
        q[0, pos, 4 + 2] = look_alike  # a look-alike class on the item's own points
        return float(dmodel.DetectionLoss(K, SIZE, positive_weight=positive_weight)(truth, q))

    # raising the look-alike from 0.01 to 0.3 on 4 points: plain BCE adds 4 x (-ln 0.7 + ln 0.99) / 4 = 0.347
    plain = loss_with(0.3, 1.0) - loss_with(0.01, 1.0)
    focal = loss_with(0.3, None) - loss_with(0.01, None)
    assert abs(plain - (np.log(0.99) - np.log(0.7))) < 1e-4
    assert focal < 0.1 * plain  # focal kept 0.75 x 0.3^2 of it
    # background points are weighted alike either way
    q = p.copy()
    q[0, ~pos, 4] = 0.3
    assert np.isclose(
        float(dmodel.DetectionLoss(K, SIZE)(truth, q)) - float(dmodel.DetectionLoss(K, SIZE)(truth, p)),
        float(dmodel.DetectionLoss(K, SIZE, positive_weight=None)(truth, q))
        - float(dmodel.DetectionLoss(K, SIZE, positive_weight=None)(truth, p)),
        rtol=1e-5,
    )


@pytest.mark.parametrize("per_detection", [None, 10], ids=["a run from before the key (4)", "10"])
def test_serving_nms_gives_the_numpy_postprocess_detections_for_a_batch(per_detection):
    """Random head outputs with a few confident, overlapping points: same boxes, scores, classes, count."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    n = 5
    p = rng.uniform(0, 0.02, (n, 64, 5 + K)).astype(np.float32)
    p[..., :4] = rng.uniform(0.02, 0.3, (n, 64, 4))
    p[..., 4 + K] = rng.uniform(0.2, 1.0, (n, 64))
    hot = rng.random((n, 64)) < 0.3
    p[..., 4 : 4 + K][hot, rng.integers(0, K, hot.sum())] = rng.uniform(0.1, 1.0, hot.sum())
    metadata = {
        "class_names": ["a", "b", "c"],
        "input": {"shape": [SIZE, SIZE, 3]},
        "postprocessing_params": {"max_detections": 6, "score_threshold": 0.05, "iou_threshold": 0.5},
    }
    if per_detection:
        metadata["postprocessing_params"]["candidates_per_detection"] = per_detection
    out = {k: v.numpy() for k, v in dmodel.detect(tf.constant(p), SIZE, K, metadata["postprocessing_params"]).items()}
    want = detections(p, metadata)
    assert out["boxes"].shape == (n, 6, 4) and out["classes"].dtype == np.int32
    for i in range(n):
        c = out["num_detections"][i]
        assert c == len(want[i]["scores"]) and c > 0
        assert np.allclose(out["boxes"][i, :c], want[i]["boxes"], atol=1e-6)
        assert np.allclose(out["scores"][i, :c], want[i]["scores"], atol=1e-6)
        assert np.array_equal(out["classes"][i, :c], want[i]["classes"])
        assert (out["scores"][i, c:] == 0).all()
    assert (out["num_detections"] == 6).any(), "the cap of max_detections per image was exercised"


def _crowded(points_a: int) -> np.ndarray:
    """One image's head outputs: object A (class 0) scored 0.9 at ``points_a`` neighbouring grid points, each
    predicting the same box (as a stride-4 head does around a large item), object B (class 1) elsewhere at 0.5."""
    p = np.zeros((1, (SIZE // 4) ** 2, 5 + K), np.float32)
    cx, cy = dmodel.grid_centres(SIZE)

    def place(points, box, cls, score):
        p[0, points, :4] = np.stack(
            [cx[points] - box[0], cy[points] - box[1], box[2] - cx[points], box[3] - cy[points]], -1
        )
        p[0, points, 4 + cls] = score
        p[0, points, 4 + K] = 1.0

    place(np.arange(points_a), (0.0, 0.0, 0.6, 0.6), 0, 0.81)  # the first rows: score sqrt(0.81 x 1) = 0.9
    place(np.array([63]), (0.8, 0.8, 1.0, 1.0), 1, 0.25)  # the last point: score 0.5
    return p


@pytest.mark.parametrize("per_detection, found", [(None, 1), (10, 2)], ids=["4 per detection", "10 per detection"])
def test_points_of_one_strong_object_leave_room_for_the_next(per_detection, found):
    """max_detections 2: 4 candidates per detection are 8 (point, class) pairs, all of them A's 9 points, so NMS
    keeps A alone; 10 per detection rank 20 pairs and reach B. The graph and numpy agree on both."""
    import tensorflow as tf

    p = _crowded(9)
    post = {"max_detections": 2, "score_threshold": 0.05, "iou_threshold": 0.5}
    if per_detection:
        post["candidates_per_detection"] = per_detection
    want = detections(
        p, {"class_names": ["a", "b", "c"], "input": {"shape": [SIZE, SIZE, 3]}, "postprocessing_params": post}
    )
    out = {k: v.numpy() for k, v in dmodel.detect(tf.constant(p), SIZE, K, post).items()}
    assert len(want[0]["scores"]) == out["num_detections"][0] == found
    assert want[0]["classes"].tolist() == out["classes"][0, :found].tolist() == [0, 1][:found]
    assert np.allclose(want[0]["boxes"][0], [0.0, 0.0, 0.6, 0.6], atol=1e-6)


def _one_box(half: float, cls: int = 0) -> np.ndarray:
    """One image's head outputs: one grid point predicting a square of side ``2 x half`` (shares of the side)
    centred on it, for ``cls`` at score 0.9."""
    p = np.zeros((1, (SIZE // 4) ** 2, 5 + K), np.float32)
    p[0, 36, :4] = half
    p[0, 36, 4 + cls], p[0, 36, 4 + K] = 0.81, 1.0
    return p


@pytest.mark.parametrize(
    "half, cls, step, counts",
    [
        (0.08, 0, 1 / 255, (1, 1, 0)),  # the same box: found
        (0.1, 0, 0.0, (1, 1, 0)),  # a larger box around it, IoU 0.64: found
        (0.055, 0, 0.0, (0, 1, 0)),  # IoU 0.47 from a float file: missed
        (0.055, 0, 1 / 255, (0, 0, 1)),  # the same from a uint8 output: within a step, set aside
        (0.055, 1, 1 / 255, (0, 1, 0)),  # another class is never within a step
        (0.048, 0, 1 / 255, (0, 1, 0)),  # IoU 0.36: beyond what a step makes up (0.5 - 0.096)
    ],
)
def test_a_detection_missed_by_less_than_an_output_step_is_set_aside(half, cls, step, counts):
    """The Keras box is 0.16 of a 32 px side (5 px): one step of 1/255 in on each edge leaves IoU 0.90 of it, so a
    quantized file's box of its class at IoU 0.47 is borderline; at 0.36, of another class, or from a float file
    (step 0), it is a miss."""
    from edgesuite.apps.object_detection.serving import SERVING

    metadata = {
        "class_names": ["a", "b", "c"],
        "input": {"shape": [SIZE, SIZE, 3]},
        "postprocessing_params": {"max_detections": 10, "score_threshold": 0.05, "iou_threshold": 0.5},
    }
    out = SERVING.parity_agreement(_one_box(0.08), _one_box(half, cls), metadata, step=step)
    assert (out["agree"], out["compared"], out["borderline"]) == counts, out
    assert out["agreement"] == (counts[0] / counts[1] if counts[1] else 1.0)
