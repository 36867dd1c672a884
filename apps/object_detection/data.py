"""Detection data: COCO / VOC / YOLO folders and the embedded canvases -> validated splits.

Every image is decoded once here, so a bad file is named up front; what is kept
is its path and its boxes scaled to the model's square input (``xyxy`` floats in
the pixels of the image stretched to S x S, padded to a fixed count per image
with class -1, what the Keras augmentation layers take). ``tf.data`` decodes and
resizes the images again while training (``common.stream``), so memory does not
grow with the data; the embedded canvases are arrays. IoU is unchanged by a
per-axis stretch, so metrics computed in this frame equal those in the original one.

A data folder is one of the three formats (``--format auto`` tells them apart),
or holds ``train/``, ``val/`` (or ``validation/``) and ``test/`` folders each in
that format, as ``edgesuite data make-canvas`` writes them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesuite.apps.object_detection import formats
from edgesuite.common.data import SkipLog
from edgesuite.common.decode import UNREADABLE, eight_bit, open_image
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import progress, say, warn
from edgesuite.common.stream import FileRows, columns_dataset, take


@dataclass
class DetectionSet:
    images: np.ndarray | FileRows  # (N, S, S, 3) uint8: arrays (canvases) or decoded from files when read
    boxes: np.ndarray  # (N, M, 4) float32 xyxy pixels of the S x S image; padding rows are 0
    classes: np.ndarray  # (N, M) int32, -1 = padding
    difficult: np.ndarray  # (N, M) bool: ignored by training and by the metric
    names: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx) -> DetectionSet:
        idx = np.asarray(idx, dtype=np.int64)
        return DetectionSet(
            take(self.images, idx),
            self.boxes[idx],
            self.classes[idx],
            self.difficult[idx],
            [self.names[i] for i in idx],
        )

    def ground_truth(self) -> list[dict]:
        """Per image: boxes (k, 4), classes (k,), difficult (k,) without padding (what the metric takes)."""
        return decode_truth(encode_truth(self.boxes, self.classes, self.difficult))


@dataclass
class DetectionSplits:
    train: DetectionSet
    val: DetectionSet | None
    test: DetectionSet | None
    class_names: list[str]
    data_name: str


def pad(
    boxes: list[np.ndarray],
    classes: list[np.ndarray],
    difficult: list[np.ndarray] | None = None,
    max_boxes: int | None = None,
):
    """Ragged per-image boxes -> (N, M, 4), (N, M) with class -1 padding."""
    m = max_boxes or max([len(c) for c in classes] + [1])
    n = len(classes)
    out_b, out_c, out_d = np.zeros((n, m, 4), np.float32), np.full((n, m), -1, np.int32), np.zeros((n, m), bool)
    for i in range(n):
        k = min(len(classes[i]), m)
        out_b[i, :k], out_c[i, :k] = boxes[i][:k], classes[i][:k]
        if difficult is not None:
            out_d[i, :k] = difficult[i][:k]
    return out_b, out_c, out_d


def _stretched(im, size: int) -> np.ndarray:
    from PIL import Image

    try:
        # 16-bit pixels keep their high byte, as predict reads them (decode.eight_bit)
        return np.asarray(eight_bit(im).convert("RGB").resize((size, size), Image.BILINEAR), np.uint8)
    except UNREADABLE as exc:
        raise ValueError(f"not a readable image ({exc.__class__.__name__}: {exc})") from None


def resized_image(path: Path, size: int) -> np.ndarray:
    """An image file as (S, S, 3) uint8 RGB, stretched (bilinear) to the model's square input."""
    with open_image(path) as im:
        return _stretched(im, size)


class SizeMismatch(ValueError):
    """The annotations give an image another size than its file has: its boxes are in a frame not known."""


SIZE_WARNINGS = 50  # size mismatches named one line each, then counted


def _check_item(item: formats.Annotated, size: int) -> np.ndarray:
    """Decodes the image (so an unreadable one is named now) and returns its boxes scaled to S x S."""
    with open_image(item.path) as im:
        w, h = im.size
        if (w, h) != (item.width, item.height):
            raise SizeMismatch(f"the annotations say {item.width}x{item.height} pixels, the image is {w}x{h}")
        _stretched(im, size)
    return item.boxes * np.array([size / w, size / h, size / w, size / h], np.float32)


def to_arrays(boxset: formats.BoxSet, size: int, skips: SkipLog, max_boxes: int) -> DetectionSet:
    """Checks every image of ``boxset``; keeps the paths (the pixels stay on disk) and the scaled boxes."""
    from functools import partial

    def read(item):
        try:
            return item, _check_item(item, size), None
        except ValueError as exc:
            return item, None, exc

    good, sizes = [], []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for item, boxes, err in progress(
            pool.map(read, boxset.items),
            total=len(boxset.items),
            desc="checking images",
            unit="image",
            disable=len(boxset.items) < 500,
            leave=False,
        ):
            if isinstance(err, SizeMismatch) and not skips.strict:
                sizes.append(f"{item.path}: {err}")
            elif err:
                skips.skip(str(item.path), str(err))
            else:
                good.append((item, boxes))
    for line in sizes[:SIZE_WARNINGS]:  # one line each: a wrong size is a fault of that file's annotation
        warn(f"warning: {line}; skipped (its boxes are in a frame of another size)")
    if len(sizes) > SIZE_WARNINGS:
        warn(
            f"warning: and {len(sizes) - SIZE_WARNINGS} more images whose annotated size differs from the file; skipped"
        )
    if not good:
        first = sizes[0] if sizes else ": ".join(skips.items[0]) if skips.items else None
        skips.report()
        skips.items.clear()  # said now; the caller's report would repeat it
        n = len(boxset.items)
        what = f"none of the {n} annotated images is usable" if n else "no image entry of the annotations is usable"
        raise UserInputError(f"{what}" + (f"; the first: {first} (each is named above)" if first else ""))
    most = max(len(g[0].classes) for g in good)
    if most > max_boxes:
        warn(f"warning: an image holds {most} boxes; keeping the first {max_boxes} per image (--max-boxes)")
    b, c, d = pad(
        [g[1] for g in good], [g[0].classes for g in good], [g[0].difficult for g in good], max(1, min(most, max_boxes))
    )
    images = FileRows(
        [g[0].path for g in good], partial(resized_image, size=size), (size, size, 3), f"detection {size}px image"
    )
    return DetectionSet(images, b, c, d, [str(g[0].path) for g in good])


def _canvas(cfg) -> DetectionSplits:
    from edgesuite.common.canvas import make_canvases

    parts = {}
    held_out = max(50, min(500, cfg.canvas_count // 6))
    width = max(cfg.canvas_items, cfg.canvas_train_items)  # one truth width for every split
    for split, count, items in (
        ("train", cfg.canvas_count, cfg.canvas_train_items),
        ("val", held_out, cfg.canvas_items),
        ("test", held_out, cfg.canvas_items),
    ):
        c = make_canvases(count, cfg.image_size, split, seed=cfg.data_seed, max_items=items)
        b, k, d = pad(c.boxes, c.classes, max_boxes=width)
        parts[split] = DetectionSet(c.images, b, k, d, [f"canvas {split} #{i}" for i in range(count)])
    return DetectionSplits(parts["train"], parts["val"], parts["test"], c.class_names, "canvas")


def _read_folder(root: Path, cfg, skips: SkipLog, clips: SkipLog, class_names: list[str] | None = None):
    boxset = formats.read(root, cfg.format, skips, clips)
    if class_names is not None and boxset.class_names != class_names:
        raise UserInputError(f"{root}: its classes {boxset.class_names} differ from {class_names}")
    return to_arrays(boxset, cfg.image_size, skips, cfg.max_boxes), boxset.class_names


def load_splits(cfg) -> DetectionSplits:
    """Resolves ``cfg.data`` to validated train/val/test arrays, deterministic for ``cfg.data_seed``."""
    if cfg.data == "canvas":
        return _canvas(cfg)
    root = Path(cfg.data)
    if not root.is_dir():
        raise UserInputError(f"{cfg.data}: no such folder, and not a named set (canvas)")
    skips, clips = (
        SkipLog("boxes or files", strict=cfg.strict),
        SkipLog("boxes clipped to their image", strict=cfg.strict),
    )
    parts, names = {}, None
    if (root / "train").is_dir():
        for split, folder in (("train", "train"), ("val", "val"), ("val", "validation"), ("test", "test")):
            if (root / folder).is_dir() and split not in parts:
                parts[split], names = _read_folder(root / folder, cfg, skips, clips, names)
    else:
        parts["train"], names = _read_folder(root, cfg, skips, clips)
    skips.report()
    clips.report(lambda m: say(m.replace("skipped", "clipped").replace(" Use --strict to fail instead.", "")))
    train, val, test = parts["train"], parts.get("val"), parts.get("test")
    if val is None:
        idx = np.random.default_rng(cfg.data_seed).permutation(len(train))
        n_val = max(1, int(round(len(train) * cfg.val_fraction))) if len(train) > 2 else 0
        n_test = int(round(len(train) * cfg.test_fraction)) if test is None else 0
        val_i, test_i, train_i = idx[:n_val], idx[n_val : n_val + n_test], idx[n_val + n_test :]
        val = train.subset(np.sort(val_i)) if len(val_i) else None
        test = test if test is not None else (train.subset(np.sort(test_i)) if len(test_i) else None)
        train = train.subset(np.sort(train_i))
    if not (train.classes >= 0).any():
        raise UserInputError(f"{root}: the training split holds no box (see the warnings above)")
    return DetectionSplits(train, val, test, names, root.name)


def load_eval_set(data: str, cfg, info: dict) -> DetectionSet:
    root = Path(data)
    if not root.is_dir():
        raise UserInputError(f"{data}: no such folder (expected a COCO, VOC or YOLO data set)")
    skips, clips = SkipLog("boxes or files", strict=cfg.strict), SkipLog("boxes clipped", strict=cfg.strict)
    cfg = type(cfg)(**{**vars(cfg), "image_size": info["image_size"]})
    out, _ = _read_folder(root, cfg, skips, clips, info["class_names"])
    skips.report()
    return out


CANVAS_FORMATS = tuple(formats.FORMATS)  # what ``edgesuite data make-canvas --format`` writes for this app


def write_canvas(
    out: str, fmt: str, count: int, size: int, seed: int, max_items: int | None = None, train_items: int | None = None
) -> dict:
    """``edgesuite data make-canvas --format coco|voc|yolo``: the default data set on disk as train/ val/ test/.

    ``train_items`` and ``max_items``: at most this many items per training canvas and per validation and
    test canvas (None: the app's ``canvas_train_items`` and ``canvas_items``).
    """
    from edgesuite.apps.object_detection.config import Config
    from edgesuite.common.canvas import write_splits

    if fmt not in formats.FORMATS:
        raise UserInputError(f"--format: expected one of {', '.join(formats.FORMATS)}, got {fmt!r}")
    max_items, train_items = max_items or Config.canvas_items, train_items or Config.canvas_train_items

    def write(folder: Path, c) -> None:
        images = [(f"{folder.name}_{i:05d}.png", c.images[i]) for i in range(len(c))]
        formats.WRITERS[fmt](folder, images, c.boxes, c.classes, c.class_names)

    return write_splits(out, count, size, seed, write, items=(max_items, train_items))


def encode_truth(boxes: np.ndarray, classes: np.ndarray, difficult: np.ndarray) -> np.ndarray:
    """(N, M, 5) float32 rows ``x1 y1 x2 y2 label``: label = class, -1 padding, -(class + 2) a difficult box.

    Negative labels are no target for the loss; the metric reads difficult boxes back (:func:`decode_truth`).
    """
    label = np.where(classes < 0, -1, np.where(difficult, -(classes + 2), classes))
    return np.concatenate([boxes, label[..., None].astype(np.float32)], axis=-1).astype(np.float32)


def decode_truth(rows: np.ndarray) -> list[dict]:
    """(N, M, 5) rows -> per image boxes, classes and difficult flags, padding dropped (what the metric takes)."""
    out = []
    for r in np.asarray(rows):
        label = np.round(r[:, 4]).astype(np.int64)
        keep = label != -1
        difficult = label[keep] <= -2
        out.append(
            {
                "boxes": r[keep, :4],
                "classes": np.where(difficult, -label[keep] - 2, label[keep]),
                "difficult": difficult,
            }
        )
    return out


def columns(data: DetectionSet) -> tuple:
    """(images, truth rows (N, M, 5), see :func:`encode_truth`): what a split's ``tf.data`` rows are made of."""
    return data.images, encode_truth(data.boxes, data.classes, data.difficult)


def to_dataset(data: DetectionSet):
    """Unbatched ``tf.data`` of (uint8 image (S, S, 3), truth rows (M, 5)), decoded from the files if on disk."""
    return columns_dataset(columns(data))
