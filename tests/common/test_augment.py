"""Boxes and masks stay on the pixels they describe after every geometric transform."""

import numpy as np
import pytest

from edgesuite.common.augment import build_augmenter, parse_spec
from edgesuite.common.errors import UserInputError

SIZE = 48
CLASS_ID = 3


def _scene(batch=6):
    """A bright 16x10 item at (x 14..30, y 12..22) on a dark background, its box and mask."""
    images = np.full((batch, SIZE, SIZE, 3), 20, np.uint8)
    images[:, 12:22, 14:30] = 235
    masks = np.zeros((batch, SIZE, SIZE, 1), np.uint8)
    masks[:, 12:22, 14:30] = CLASS_ID
    boxes = np.tile(np.array([[[14.0, 12.0, 30.0, 22.0]]], np.float32), (batch, 1, 1))
    labels = np.full((batch, 1), CLASS_ID, np.int32)
    return {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}, "segmentation_masks": masks}


def _tight_box(binary):
    ys, xs = np.nonzero(binary)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)


@pytest.mark.parametrize("spec", ["flip", "rotate=0.08", "zoom=0.3", "translate=0.2", "crop=0.7"])
def test_geometric_transforms_move_boxes_and_masks_with_pixels(spec, policy):
    out = build_augmenter(spec, "segmentation", (SIZE, SIZE), seed=7)(_scene())
    images = out["images"].numpy()
    masks = np.rint(out["segmentation_masks"].numpy()).astype(int)
    boxes = out["bounding_boxes"]["boxes"].numpy()
    moved = 0
    for img, mask, box in zip(images, masks, boxes):
        bright = img[..., 0] > 127
        item = mask[..., 0] == CLASS_ID
        assert set(np.unique(mask)) <= {0, CLASS_ID}, "nearest-neighbour masks hold only valid ids"
        assert item.any() and bright.any()
        iou = (bright & item).sum() / (bright | item).sum()
        assert iou > 0.8, f"{spec}: mask and pixels disagree (IoU {iou:.2f})"
        np.testing.assert_allclose(box[0], _tight_box(item), atol=2.0, err_msg=f"{spec}: box off the item")
        moved += not np.allclose(box[0], [14, 12, 30, 22])
    assert moved, f"{spec} moved nothing in 6 draws"


@pytest.mark.parametrize("spec", ["contrast", "brightness", "color", "noise"])
def test_colour_transforms_leave_boxes_and_masks_alone(spec, policy):
    scene = _scene()
    out = build_augmenter(spec, "detection", (SIZE, SIZE), seed=7)(scene)
    assert out["images"].dtype.name == "float32", f"{spec} under {policy}: pixels must stay float32"
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"].numpy(), scene["bounding_boxes"]["boxes"])
    np.testing.assert_array_equal(out["segmentation_masks"].numpy(), scene["segmentation_masks"])
    assert not np.allclose(out["images"].numpy(), scene["images"])


@pytest.mark.parametrize("spec", ["color=0.4", "randaugment=2"])
def test_colour_transforms_take_grey_images(spec):
    """RandomColorJitter and RandAugment convert to HSV, which needs 3 channels: grey goes through as RGB."""
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (8, SIZE, SIZE, 1)).astype(np.uint8)
    out = build_augmenter(spec, "classification", (SIZE, SIZE), seed=3)(
        {"images": grey, "labels": np.eye(2, dtype=np.float32)[[0, 1] * 4]}
    )["images"].numpy()
    assert out.shape == grey.shape and 0 <= out.min() and out.max() <= 255
    assert not np.allclose(out, grey)


@pytest.mark.parametrize("spec", ["mixup=0.4", "cutmix"])
def test_label_mixing_mixes_labels_of_a_classification_batch(spec, policy):
    images = np.stack([np.full((SIZE, SIZE, 1), v, np.uint8) for v in (0, 255, 0, 255)])
    labels = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    out = build_augmenter(spec, "classification", (SIZE, SIZE), seed=3)({"images": images, "labels": labels})
    assert out["images"].dtype.name == out["labels"].dtype.name == "float32"
    np.testing.assert_allclose(out["labels"].numpy().sum(-1), 1.0, atol=1e-5)
    assert ((out["labels"].numpy() > 0.01) & (out["labels"].numpy() < 0.99)).any()


def test_erase_hides_a_rectangle_of_some_images_and_keeps_their_labels(policy):
    images = np.full((64, SIZE, SIZE, 1), 100, np.uint8)
    labels = np.eye(2, dtype=np.float32)[[0, 1] * 32]
    out = build_augmenter("erase=0.5", "classification", (SIZE, SIZE), seed=3)({"images": images, "labels": labels})
    changed = (out["images"].numpy() != 100).reshape(64, -1)
    erased = changed.any(1)
    assert 0 < erased.sum() < 64  # some images, not all
    assert (changed[erased].mean(1) <= 0.3).all()  # a rectangle of at most a quarter (and rounding), not the image
    np.testing.assert_array_equal(out["labels"].numpy(), labels)
    with pytest.raises(UserInputError, match="'erase' hides pixels and only applies to classification"):
        parse_spec("erase", task="segmentation")
    with pytest.raises(UserInputError, match=r"erase=2.0 expects a probability"):
        build_augmenter("erase=2", "classification", (SIZE, SIZE))


@pytest.mark.parametrize("spec", ["rotate=0.08", "zoom=0.3", "color", "randaugment"])
def test_augmentation_computes_in_float32_under_any_policy(spec, policy):
    """Input processing: the same pixels under mixed_bfloat16 as under float32 (bf16 would round 0..255
    values to 8 bits of mantissa, e.g. 235 -> 236)."""
    from edgesuite.common import precision

    scene = _scene()
    out = build_augmenter(spec, "detection", (SIZE, SIZE), seed=7)(scene)["images"].numpy()
    with precision.scope("float32", log=lambda _: None):
        ref = build_augmenter(spec, "detection", (SIZE, SIZE), seed=7)(scene)["images"].numpy()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ref, atol=1e-3)


def test_spec_errors_name_the_item():
    with pytest.raises(UserInputError, match="unknown augmentation 'twirl'"):
        parse_spec("flip,twirl")
    with pytest.raises(UserInputError, match="'zoom=big' expects a float"):
        parse_spec("zoom=big")
    with pytest.raises(UserInputError, match="only applies to classification"):
        parse_spec("mixup", task="detection")
    assert parse_spec("none") == [] and [o.name for o in parse_spec("default")] == ["flip", "erase"]
