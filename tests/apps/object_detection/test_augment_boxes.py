"""Box-aware augmentation: boxes follow the pasted items through every transform, clipped, mostly hidden ones
dropped."""

import numpy as np
import pytest

from edgesuite.common.augment import build_augmenter
from edgesuite.common.canvas import make_canvases

SIZE = 48


def _disjoint_canvases(count: int, seed: int):
    """Canvases whose item boxes do not overlap, so each box's pixels are its item's alone."""
    c = make_canvases(count, SIZE, seed=seed)
    keep = []
    for i, boxes in enumerate(c.boxes):
        b = boxes
        overlap = any(
            min(b[j, 2], b[k, 2]) > max(b[j, 0], b[k, 0]) and min(b[j, 3], b[k, 3]) > max(b[j, 1], b[k, 1])
            for j in range(len(b))
            for k in range(j + 1, len(b))
        )
        if not overlap:
            keep.append(i)
    instances = np.zeros((len(keep), SIZE, SIZE), np.float32)
    boxes = np.zeros((len(keep), 3, 4), np.float32)
    labels = -np.ones((len(keep), 3), np.float32)
    for n, i in enumerate(keep):
        for j, (box, cls) in enumerate(zip(c.boxes[i], c.classes[i])):
            x1, y1, x2, y2 = box.astype(int)
            region = instances[n, y1:y2, x1:x2]
            region[c.masks[i, y1:y2, x1:x2] > 0] = j + 1
            boxes[n, j], labels[n, j] = box, cls
    images = np.where(instances[..., None] > 0, 255, 0).astype(np.uint8).repeat(3, -1)
    return images, instances, boxes, labels


def _tight(instance_mask, j):
    ys, xs = np.nonzero(np.round(instance_mask) == j + 1)
    return None if not len(xs) else np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize(
    "spec", ["flip", "zoom=0.2", "translate=0.2", "crop=0.8", "flip,zoom=0.1,translate=0.1,color=0.2"]
)
def test_kept_boxes_sit_on_their_items_pixels_after_each_transform(spec):
    import tensorflow as tf

    images, instances, boxes, labels = _disjoint_canvases(24, seed=4)
    augmenter = build_augmenter(spec, "detection", (SIZE, SIZE), seed=7, min_box_visibility=0.4)
    out = augmenter(
        {
            "images": images,
            "bounding_boxes": {"boxes": boxes, "labels": labels},
            "segmentation_masks": tf.constant(instances[..., None]),
        }
    )
    new_boxes = out["bounding_boxes"]["boxes"].numpy()
    new_labels = out["bounding_boxes"]["labels"].numpy()
    masks = out["segmentation_masks"].numpy()[..., 0]
    checked = moved = 0
    for n in range(len(images)):
        for j in range(3):
            if labels[n, j] < 0:
                continue
            tight = _tight(masks[n], j)
            if new_labels[n, j] < 0:  # dropped: the item is gone or mostly cut off
                continue
            assert new_labels[n, j] == labels[n, j]
            assert tight is not None, f"{spec}: a kept box has no item pixels left"
            assert (new_boxes[n, j] >= 0).all() and (new_boxes[n, j] <= SIZE).all(), "clipped to the image"
            # a nearest-neighbour resampled silhouette and the box's exact edges: within 1.5 px
            assert np.abs(new_boxes[n, j] - tight).max() <= 1.5, (spec, n, j, new_boxes[n, j], tight)
            checked += 1
            moved += not np.allclose(new_boxes[n, j], boxes[n, j])
    assert checked > 20 and moved > 0, (checked, moved)


def test_colour_changes_leave_boxes_untouched():
    images, _, boxes, labels = _disjoint_canvases(8, seed=2)
    out = build_augmenter("color=0.3,contrast=0.3,noise", "detection", (SIZE, SIZE), seed=1, min_box_visibility=0.4)(
        {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}
    )
    assert np.array_equal(out["bounding_boxes"]["boxes"].numpy(), boxes)
    assert np.array_equal(out["bounding_boxes"]["labels"].numpy(), labels)


@pytest.mark.parametrize("layer", ["shift", "zoom"])
def test_boxes_mostly_pushed_out_of_the_picture_are_dropped(layer):
    """Fixed transforms, white squares one per image; the share left in view decides, measured on the pixels."""
    import keras

    squares = [[20, 20, 28, 28], [30, 4, 46, 20], [36, 30, 46, 40], [42, 8, 48, 24], [26, 26, 44, 44], [4, 4, 14, 14]]
    images = np.zeros((len(squares), SIZE, SIZE, 3), np.uint8)
    for n, (x1, y1, x2, y2) in enumerate(squares):
        images[n, y1:y2, x1:x2] = 255
    boxes = np.array(squares, np.float32)[:, None, :]
    labels = np.zeros((len(squares), 1), np.float32)
    augmenter = build_augmenter("translate=0.1", "detection", (SIZE, SIZE), seed=0, min_box_visibility=0.5)
    if layer == "shift":  # 12 px to the right for every image
        augmenter.layers = [
            keras.layers.RandomTranslation((0, 0), (0.25, 0.25), fill_mode="constant", bounding_box_format="xyxy")
        ]
    else:  # magnify 1.6x about the centre for every image
        augmenter.layers = [
            keras.layers.RandomZoom(
                (-0.375, -0.375), (-0.375, -0.375), fill_mode="constant", bounding_box_format="xyxy"
            )
        ]
    out = augmenter({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}})
    white = out["images"].numpy().max(-1) > 127
    scale = white[0].sum() / 64.0  # square 0 (8 x 8, central) always stays in view
    share = white.reshape(len(squares), -1).sum(1) / ((images.max(-1) > 127).reshape(len(squares), -1).sum(1) * scale)
    kept = out["bounding_boxes"]["labels"].numpy()[:, 0] >= 0
    assert kept[0] and not kept.all() and kept.sum() >= 2, (share, kept)
    for s, k in zip(share, kept):
        assert k == (s >= 0.5) or abs(s - 0.5) < 0.05, (layer, share, kept)
