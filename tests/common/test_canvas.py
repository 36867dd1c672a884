"""The canvas generator: deterministic, exact boxes and masks, no item shared across splits."""

import numpy as np

from edgesuite.common.canvas import SILHOUETTE_LEVEL, make_canvases


def test_same_seed_same_bytes_other_seed_other_canvases():
    a, b, c = make_canvases(6, 48, seed=3), make_canvases(6, 48, seed=3), make_canvases(6, 48, seed=4)
    assert a.images.tobytes() == b.images.tobytes() and a.masks.tobytes() == b.masks.tobytes()
    assert all((x == y).all() for x, y in zip(a.boxes, b.boxes))
    assert a.images.tobytes() != c.images.tobytes()


def test_boxes_are_tight_around_each_items_mask_pixels_and_classes_agree():
    c = make_canvases(40, 64, seed=0, max_items=3)
    assert c.mask_class_names[0] == "background" and len(c.mask_class_names) == 11
    for mask, boxes, classes in zip(c.masks, c.boxes, c.classes):
        assert len(boxes) >= 1 and len(boxes) == len(classes)
        covered = np.zeros_like(mask, bool)
        for (x1, y1, x2, y2), cls in zip(boxes.astype(int), classes):
            inside = mask[y1:y2, x1:x2] == cls + 1
            # tight: the item's pixels touch all four sides of its box
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            covered[y1:y2, x1:x2] |= inside
        # every labelled pixel belongs to one of the boxes, with that box's class
        assert ((mask > 0) == covered).all()


def test_item_pixels_are_painted_and_background_is_not_an_item():
    c = make_canvases(10, 64, seed=1)
    for image, mask in zip(c.images, c.masks):
        assert image.shape == (64, 64, 3)
        # item pixels were painted at least SILHOUETTE_LEVEL x the smallest tint
        assert image[mask > 0].max(axis=-1).min() >= int(SILHOUETTE_LEVEL * 0.45)


def test_splits_draw_items_from_disjoint_pools():
    from edgesuite.common.canvas import _item_pool

    train, val, test = (_item_pool(s)[0] for s in ("train", "val", "test"))
    val_set, test_set = {x.tobytes() for x in val}, {x.tobytes() for x in test}
    assert not val_set & test_set
    assert not {x.tobytes() for x in train[:2000]} & (val_set | test_set)


def test_items_name_the_source_image_each_pasted_item_came_from():
    from PIL import Image

    from edgesuite.common.canvas import source_images

    def silhouette(item, side):  # the item resized as the generator does, cut to its tight box
        sil = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR)) > SILHOUETTE_LEVEL
        rows, cols = np.flatnonzero(sil.any(1)), np.flatnonzero(sil.any(0))
        return sil[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    c = make_canvases(12, 64, "val", seed=2)
    x, y = source_images("val")
    for mask, boxes, classes, items in zip(c.masks, c.boxes, c.classes, c.items):
        assert len(items) == len(classes) and (y[items] == classes).all()
        for (x1, y1, x2, y2), cls, k in zip(boxes.astype(int), classes, items):
            found = mask[y1:y2, x1:x2] == cls + 1
            candidates = [silhouette(x[k], side) for side in range(16, 65)]
            assert any(s.shape == found.shape and (s == found).all() for s in candidates)
