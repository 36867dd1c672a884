"""Canvases: the embedded default data of the detection and segmentation apps.

Real Fashion-MNIST items (the embedded subset) pasted at random scales and
positions onto a textured, noisy background, with everything known exactly:
each item's tight box, its class and its per-pixel silhouette. Deterministic
for a seed: the same arguments give the same bytes.

An item's silhouette is the set of its pixels brighter than ``SILHOUETTE_LEVEL``
after resizing (Fashion-MNIST items sit on a black background); items never
overlap, so every silhouette is whole and the box is tight around it. Items of
the training canvases come from the training images; validation and test
canvases draw from two disjoint halves of the test images, so no item is seen
in two splits.

    >>> c = make_canvases(4, size=64, split="train", seed=0)
    >>> c.images.shape, c.masks.shape, c.boxes[0].shape   # (4, 64, 64, 3) (4, 64, 64) (k, 4)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ITEMS = 3  # items per canvas at most, unless asked otherwise (segmentation's embedded canvases)
SILHOUETTE_LEVEL = 24  # of 255, after resizing: what counts as the item rather than its black surround


@dataclass
class Canvases:
    images: np.ndarray  # (N, S, S, 3) uint8
    masks: np.ndarray  # (N, S, S) uint8: 0 background, 1 + item class
    boxes: list[np.ndarray]  # per canvas (k, 4) float32, xyxy in pixels, x2/y2 exclusive
    classes: list[np.ndarray]  # per canvas (k,) int64 item classes (Fashion-MNIST label ids)
    class_names: list[str]  # of the item classes; mask value c + 1 is class_names[c]
    items: list[np.ndarray]  # per canvas (k,) int64: index of each item in its split's source images

    def __len__(self) -> int:
        return len(self.images)

    @property
    def mask_class_names(self) -> list[str]:
        return ["background", *self.class_names]


def _item_pool(split: str):
    from edgesuite.common.datasets import fashion_mnist

    (x_tr, y_tr), (x_te, y_te) = fashion_mnist.load_subset()
    half = len(x_te) // 2
    pools = {"train": (x_tr, y_tr), "val": (x_te[:half], y_te[:half]), "test": (x_te[half:], y_te[half:])}
    if split not in pools:
        raise ValueError(f"split: expected train, val or test, got {split!r}")
    return pools[split][0], pools[split][1].astype(np.int64), list(fashion_mnist.CLASS_NAMES)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random colour field (a coarse grid upsampled) plus pixel noise: float (S, S, 3)."""
    from PIL import Image

    cells = rng.integers(2, 6)
    coarse = rng.uniform(0, 140, (cells, cells, 3)).astype(np.uint8)
    field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC), dtype=np.float32)
    return field + rng.normal(0, rng.uniform(2, 12), (size, size, 3))


def _paste_one(rng, item: np.ndarray, size: int, taken: np.ndarray, scale: tuple[float, float]):
    """Resizes ``item`` and finds a free place for it; returns (x, y, resized) or None."""
    from PIL import Image

    side = int(round(rng.uniform(*scale) * size))
    resized = np.asarray(Image.fromarray(item).resize((side, side), Image.BILINEAR), dtype=np.uint8)
    sil = resized > SILHOUETTE_LEVEL
    if not sil.any():
        return None
    for _ in range(20):
        x, y = rng.integers(0, size - side + 1, 2)
        if not (taken[y : y + side, x : x + side] & sil).any():
            return int(x), int(y), resized
    return None


def make_canvases(
    count: int,
    size: int = 64,
    split: str = "train",
    seed: int = 0,
    max_items: int = ITEMS,
    scale: tuple[float, float] = (0.4, 0.65),
) -> Canvases:
    """``count`` canvases of ``size`` x ``size`` with 1 to ``max_items`` items each."""
    if count < 0 or size < 16 or max_items < 1 or not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError("make_canvases: count >= 0, size >= 16, max_items >= 1 and 0 < scale <= 1 expected")
    x_pool, y_pool, names = _item_pool(split)
    rng = np.random.default_rng([seed, {"train": 0, "val": 1, "test": 2}[split]])
    images = np.zeros((count, size, size, 3), np.uint8)
    masks = np.zeros((count, size, size), np.uint8)
    boxes, classes, items = [], [], []
    for n in range(count):
        canvas = _background(rng, size)
        taken = np.zeros((size, size), bool)
        got_boxes, got_classes, got_items = [], [], []
        for _ in range(rng.integers(1, max_items + 1)):
            k = rng.integers(len(x_pool))
            placed = _paste_one(rng, x_pool[k], size, taken, scale)
            if placed is None:
                continue
            x, y, item = placed
            side = item.shape[0]
            sil = item > SILHOUETTE_LEVEL
            tint = rng.uniform(0.45, 1.0, 3)
            region = canvas[y : y + side, x : x + side]
            region[sil] = item[sil, None].astype(np.float32) * tint
            taken[y : y + side, x : x + side] |= sil
            masks[n, y : y + side, x : x + side][sil] = y_pool[k] + 1
            rows, cols = np.flatnonzero(sil.any(1)), np.flatnonzero(sil.any(0))
            got_boxes.append([x + cols[0], y + rows[0], x + cols[-1] + 1, y + rows[-1] + 1])
            got_classes.append(y_pool[k])
            got_items.append(k)
        images[n] = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
        boxes.append(np.asarray(got_boxes, np.float32).reshape(-1, 4))
        classes.append(np.asarray(got_classes, np.int64))
        items.append(np.asarray(got_items, np.int64))
    return Canvases(images, masks, boxes, classes, names, items)


def source_images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The (N, 28, 28) uint8 images and (N,) labels that ``split``'s canvases take items from (``Canvases.items``)."""
    x, y, _ = _item_pool(split)
    return x, y


def write_splits(out: str, count: int, size: int, seed: int, write_split, items: tuple[int, int]) -> dict:
    """``edgesuite data make-canvas``: canvases as train/ val/ test/ (a sixth of ``count`` each for val and
    test) under ``out``, each split written by ``write_split(folder, canvases)`` (an app's format).

    ``items``: at most this many items per (validation and test, training) canvas. Written into a hidden
    sibling folder and renamed when complete, so an interrupted run leaves nothing that looks like a data set.
    """
    import os
    import shutil
    from pathlib import Path

    from edgesuite.common.errors import UserInputError
    from edgesuite.common.runs import ensure_writable_dir

    if count < 1:
        raise UserInputError(f"--count: expected an integer >= 1, got {count}")
    if min(items) < 1:
        raise UserInputError(f"--max-items, --train-items: expected integers >= 1, got {items[0]}, {items[1]}")
    root = Path(out)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise UserInputError(f"{root}: exists and is not an empty folder; choose a new --out")
    ensure_writable_dir(root.parent if str(root.parent) else Path("."))
    tmp = root.with_name(f".{root.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    written = {}
    try:
        for split, n in (("train", count), ("val", max(1, count // 6)), ("test", max(1, count // 6))):
            c = make_canvases(n, size, split, seed=seed, max_items=items[1] if split == "train" else items[0])
            write_split(tmp / split, c)
            written[split] = n
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return written
