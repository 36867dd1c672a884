"""Segmentation data: image + mask folders and the embedded canvases -> validated splits.

A data folder holds ``images/`` and ``masks/`` (or ``train/ val/ test/`` each
holding both), paired by file stem. Masks hold class indices: 8-bit grey or
palette PNGs (the palette index is the class, as in Pascal VOC
``SegmentationClass``, where 255 marks borders to ignore), or single-channel
TIFFs. Colour (RGB) masks are converted only when ``classes.txt`` gives a colour
per class (``name R G B`` lines); otherwise they are an error that says so.
``classes.txt`` (one class per line, background first) names the classes; without
it ``--num-classes`` or the largest mask value decides, unless most ids up to that
value are in no mask (a stray 200 among 0..9): that is refused, naming the masks.

Every pair is decoded once here, so a bad file is named up front: a mask whose
size differs from its image, an image without a mask or a mask without an image,
a mask value that is no class and not the ignore index, an unreadable file. Each
is skipped with a counted warning, or fatal with ``--strict``. What is kept of a
folder is the paths and each mask's pixel count per value, not the pixels:
``tf.data`` decodes and resizes the pairs again while training (``common.stream``),
so memory does not grow with the data. The embedded canvases are arrays.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesuite.common.data import IMAGE_EXTENSIONS, SkipLog, check_label, check_labels
from edgesuite.common.decode import UNREADABLE, eight_bit, open_image
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import progress, warn
from edgesuite.common.stream import FileRows, columns_dataset, take
from edgesuite.common.text import read_text_file

IMAGE_SUFFIXES = IMAGE_EXTENSIONS | {".tif", ".tiff"}
MASK_SUFFIXES = {".png", ".tif", ".tiff", ".bmp", ".gif"}


@dataclass
class MaskedImages:
    images: np.ndarray | FileRows  # (N, S, S, 3) uint8: arrays (canvases) or decoded from files when read
    masks: np.ndarray | FileRows  # (N, S, S) uint8 class ids (ignore index kept)
    names: list[str]  # where each pair came from
    counts: np.ndarray | None = None  # (N, 256) pixels of each value per resized mask; None: count the arrays

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, idx) -> MaskedImages:
        idx = np.asarray(idx, dtype=np.int64)
        return MaskedImages(
            take(self.images, idx),
            take(self.masks, idx),
            [self.names[i] for i in idx],
            self.counts[idx] if self.counts is not None else None,
        )

    def value_counts(self) -> np.ndarray:
        """(N, 256) int64: how many pixels of each mask hold each value."""
        if self.counts is not None:
            return self.counts
        return (
            np.stack([np.bincount(m.ravel(), minlength=256) for m in self.masks])
            if len(self)
            else np.zeros((0, 256), np.int64)
        )


@dataclass
class SegmentationSplits:
    train: MaskedImages
    val: MaskedImages | None
    test: MaskedImages | None
    class_names: list[str]
    data_name: str


@dataclass
class ClassList:
    names: list[str]
    colours: dict[tuple[int, int, int], int] | None  # RGB -> class id, when classes.txt gives colours


def read_classes(path: Path) -> ClassList:
    """``classes.txt``: one class per line, ``name`` or ``name R G B``; '#' starts a comment."""
    names, colours = [], {}
    for line_no, raw in enumerate(read_text_file(path, flag=None).splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) >= 4 and all(p.isdigit() for p in parts[-3:]):
            rgb = tuple(int(p) for p in parts[-3:])
            if max(rgb) > 255:
                raise UserInputError(f"{path}:{line_no}: colour values must be 0..255, got {' '.join(parts[-3:])}")
            colours[rgb] = len(names)
            names.append(check_label(" ".join(parts[:-3]), f"{path}:{line_no}"))
        else:
            names.append(check_label(line, f"{path}:{line_no}"))
    if colours and len(colours) != len(names):
        raise UserInputError(f"{path}: give a colour (name R G B) on every line or on none")
    check_labels(names, str(path))  # no name twice
    if len(names) < 2:
        raise UserInputError(f"{path}: expected at least two classes (background first), found {len(names)}")
    return ClassList(names, colours or None)


def _load_mask(path: Path, classes: ClassList | None) -> np.ndarray:
    """Class indices (H, W) uint8 from a grey, palette, 16-bit/float TIFF or (with colours) RGB mask."""
    try:
        with open_image(path) as im:
            mode = im.mode
            arr = np.asarray(im)
    except ValueError as exc:
        raise ValueError(str(exc).replace("not a readable image", "not a readable mask image")) from None
    if mode in ("LA", "La", "PA") and arr.ndim == 3:  # grey (or palette) indices with an alpha channel
        arr = arr[..., 0]
    if mode in ("RGB", "RGBA") or arr.ndim == 3:
        rgb = arr[..., :3]
        if classes is not None and classes.colours:
            flat = rgb.reshape(-1, 3)
            keys = flat[:, 0].astype(np.int64) << 16 | flat[:, 1].astype(np.int64) << 8 | flat[:, 2]
            table = {r << 16 | g << 8 | b: c for (r, g, b), c in classes.colours.items()}
            uniq, inverse = np.unique(keys, return_inverse=True)
            unknown = [int(k) for k in uniq if int(k) not in table]
            if unknown:
                k = unknown[0]
                raise ValueError(
                    f"colour ({k >> 16}, {k >> 8 & 255}, {k & 255}) is not in classes.txt "
                    f"({len(unknown)} unknown colour(s))"
                )
            return np.array([table[int(k)] for k in uniq], np.uint8)[inverse].reshape(rgb.shape[:2])
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return rgb[..., 0].astype(np.uint8)  # grey values saved as RGB
        raise ValueError(
            "an RGB colour mask where class indices were expected; save masks as 8-bit grey or "
            "palette PNGs, or give classes.txt lines 'name R G B' to convert colours"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError("a float mask with non-integer values; masks hold class indices")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"mask values {int(arr.min())}..{int(arr.max())} do not fit class indices 0..255")
    return arr.astype(np.uint8)


def _load_image(path: Path) -> np.ndarray:
    with open_image(path) as im:
        try:  # 16-bit pixels keep their high byte, as predict reads them (decode.eight_bit)
            return np.asarray(eight_bit(im).convert("RGB"), dtype=np.uint8)
        except UNREADABLE as exc:
            raise ValueError(f"not a readable image ({exc.__class__.__name__}: {exc})") from None


def _resized_image(path: Path, size: int) -> np.ndarray:
    """An image file as (S, S, 3) uint8, bilinear."""
    from PIL import Image

    image = _load_image(path)
    if image.shape[:2] != (size, size):
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), dtype=np.uint8)
    return image


def _fit_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """(S, S) uint8 class ids, nearest-neighbour: no new class values appear."""
    from PIL import Image

    if mask.shape[:2] != (size, size):
        mask = np.asarray(Image.fromarray(mask).resize((size, size), Image.NEAREST), dtype=np.uint8)
    return mask


def _resized_mask(path: Path, size: int, classes: ClassList | None) -> np.ndarray:
    """A mask file as (S, S) uint8 class ids."""
    return _fit_mask(_load_mask(path, classes), size)


def _files(folder: Path, suffixes: set[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes:
            out.setdefault(p.stem, p)
    return out


def scan_pairs(root: Path, size: int, classes: ClassList | None, skips: SkipLog) -> MaskedImages:
    """``root/images`` + ``root/masks`` matched by stem, every pair decoded and checked (problems go to
    ``skips``); kept: the paths and each resized mask's pixel counts, the pairs stay on disk."""
    from functools import partial

    img_dir, mask_dir = root / "images", root / "masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise UserInputError(f"{root}: expected an images/ and a masks/ folder (missing {d.name}/)")
    images, masks = _files(img_dir, IMAGE_SUFFIXES), _files(mask_dir, MASK_SUFFIXES)
    for stem in sorted(set(images) - set(masks)):
        skips.skip(str(images[stem]), f"no mask with the stem '{stem}' in {mask_dir}")
    for stem in sorted(set(masks) - set(images)):
        skips.skip(str(masks[stem]), f"no image with the stem '{stem}' in {img_dir}")
    stems = sorted(set(images) & set(masks))
    if not stems:
        raise UserInputError(f"{root}: no image in images/ has a mask of the same name in masks/")

    def read(stem):
        try:
            image = _load_image(images[stem])
        except ValueError as exc:
            return stem, None, (str(images[stem]), str(exc))
        try:
            mask = _load_mask(masks[stem], classes)
        except ValueError as exc:
            return stem, None, (str(masks[stem]), str(exc))
        if image.shape[:2] != mask.shape[:2]:
            return (
                stem,
                None,
                (
                    str(masks[stem]),
                    f"mask is {mask.shape[1]}x{mask.shape[0]} pixels, its image "
                    f"{images[stem].name} is {image.shape[1]}x{image.shape[0]}",
                ),
            )
        return stem, np.bincount(_fit_mask(mask, size).ravel(), minlength=256), None

    good = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for stem, counts, err in progress(
            pool.map(read, stems),
            total=len(stems),
            desc="checking pairs",
            unit="pair",
            disable=len(stems) < 500,
            leave=False,
        ):
            if err:
                skips.skip(*err)
            else:
                good.append((stem, counts))
    if not good:
        raise UserInputError(f"{root}: no readable image/mask pair (see the warnings above)")
    tag = f"segmentation {size}px classes={classes.colours if classes else None}"
    return MaskedImages(
        FileRows([images[g[0]] for g in good], partial(_resized_image, size=size), (size, size, 3), f"{tag} image"),
        FileRows(
            [masks[g[0]] for g in good], partial(_resized_mask, size=size, classes=classes), (size, size), f"{tag} mask"
        ),
        [str(masks[g[0]]) for g in good],
        np.stack([g[1] for g in good]),
    )


def check_values(data: MaskedImages, num_classes: int, ignore_index: int, skips: SkipLog) -> MaskedImages:
    """Drops (or, strict, fails on) masks holding a value that is neither a class nor the ignore index."""
    keep = []
    for i, counts in enumerate(data.value_counts()):
        values = np.flatnonzero(counts)
        bad = values[(values >= num_classes) & (values != ignore_index)]
        if len(bad):
            skips.skip(
                data.names[i],
                f"mask value {int(bad[0])} is not a class id (0..{num_classes - 1}) nor the "
                f"ignore index {ignore_index}" + (f" ({len(bad)} such values)" if len(bad) > 1 else ""),
            )
        else:
            keep.append(i)
    return data.subset(keep)


def _binarize(data: MaskedImages | None, ignore_index: int) -> MaskedImages | None:
    if data is None:
        return None

    def binary(m):
        return np.where(m == ignore_index, m, (m != 0).astype(np.uint8)).astype(np.uint8)

    counts = data.value_counts()
    binary_counts = np.zeros_like(counts)
    ignored = counts[:, ignore_index].copy()
    binary_counts[:, 0] = counts[:, 0]
    binary_counts[:, 1] = counts[:, 1:].sum(1) - (ignored if ignore_index >= 1 else 0)
    binary_counts[:, ignore_index] += ignored if ignore_index >= 1 else 0
    masks = (
        data.masks.map(binary, f"binary ignore={ignore_index}")
        if isinstance(data.masks, FileRows)
        else binary(data.masks)
    )
    return MaskedImages(data.images, masks, data.names, binary_counts)


def _canvas(cfg) -> SegmentationSplits:
    from edgesuite.common.canvas import make_canvases

    parts = {}
    held_out = max(50, min(500, cfg.canvas_count // 6))
    for split, count in (("train", cfg.canvas_count), ("val", held_out), ("test", held_out)):
        c = make_canvases(count, cfg.image_size, split, seed=cfg.data_seed)
        parts[split] = MaskedImages(c.images, c.masks, [f"canvas {split} #{i}" for i in range(count)])
        names = c.mask_class_names
    return SegmentationSplits(parts["train"], parts["val"], parts["test"], names, "canvas")


def _random_split(data: MaskedImages, fractions: tuple[float, float], seed: int):
    idx = np.random.default_rng(seed).permutation(len(data))
    n_val, n_test = (int(round(len(data) * f)) for f in fractions)
    if fractions[0] > 0 and n_val == 0 and len(data) > 2:
        n_val = 1
    val, test, train = idx[:n_val], idx[n_val : n_val + n_test], idx[n_val + n_test :]
    return (
        data.subset(np.sort(train)),
        data.subset(np.sort(val)) if len(val) else None,
        data.subset(np.sort(test)) if len(test) else None,
    )


def load_splits(cfg) -> SegmentationSplits:
    """Resolves ``cfg.data`` to validated train/val/test arrays, deterministic for ``cfg.data_seed``."""
    from edgesuite.apps.segmentation.config import NAMED_SETS

    if cfg.data in NAMED_SETS:
        splits = _canvas(cfg)
        if cfg.binary:
            splits = SegmentationSplits(
                _binarize(splits.train, cfg.ignore_index),
                _binarize(splits.val, cfg.ignore_index),
                _binarize(splits.test, cfg.ignore_index),
                ["background", "foreground"],
                "canvas",
            )
        return splits
    root = Path(cfg.data)
    if not root.is_dir():
        raise UserInputError(f"{cfg.data}: no such folder, and not a named set ({', '.join(NAMED_SETS)})")
    classes_txt = next((p for p in (root / "classes.txt", root.parent / "classes.txt") if p.is_file()), None)
    classes = read_classes(classes_txt) if classes_txt else None
    skips = SkipLog("image/mask pairs", strict=cfg.strict)
    if (root / "train").is_dir():
        folders = {"train": "train", "val": "val" if (root / "val").is_dir() else "validation", "test": "test"}
        parts = {
            split: scan_pairs(root / folder, cfg.image_size, classes, skips)
            for split, folder in folders.items()
            if (root / folder).is_dir()
        }
    else:
        parts = {"train": scan_pairs(root, cfg.image_size, classes, skips)}
    if cfg.binary:
        parts = {split: _binarize(p, cfg.ignore_index) for split, p in parts.items()}
        names = ["background", "foreground"]
    elif cfg.num_classes:
        names = (
            classes.names
            if classes and len(classes.names) == cfg.num_classes
            else [f"class_{i}" for i in range(cfg.num_classes)]
        )
        if classes and len(classes.names) != cfg.num_classes:
            raise UserInputError(
                f"{classes_txt}: lists {len(classes.names)} classes, --num-classes says {cfg.num_classes}"
            )
    elif classes:
        names = classes.names
    else:
        masks_with = _masks_holding(parts.values(), cfg.ignore_index)
        _refuse_gaps(root, parts.values(), masks_with)
        top = max(masks_with, default=0)
        names = [f"class_{i}" for i in range(max(top + 1, 2))]
        if warning := inferred_classes_warning(masks_with, sum(len(p) for p in parts.values())):
            warn(warning)
    parts = {split: check_values(p, len(names), cfg.ignore_index, skips) for split, p in parts.items()}
    skips.report()
    train, val, test = parts["train"], parts.get("val"), parts.get("test")
    if not len(train):
        raise UserInputError(f"{root}: no training pair left after the checks above")
    if val is None:
        train, val, held = _random_split(
            train, (cfg.val_fraction, 0.0 if test is not None else cfg.test_fraction), cfg.data_seed
        )
        test = test if test is not None else held
    return SegmentationSplits(
        train,
        val if val is not None and len(val) else None,
        test if test is not None and len(test) else None,
        names,
        root.name,
    )


def _masks_holding(parts, ignore_index: int) -> dict[int, int]:
    """Class value -> how many masks hold it (the ignore index left out)."""
    held = sum((p.value_counts() > 0).sum(0) for p in parts)
    return {int(v): int(held[v]) for v in np.flatnonzero(held) if int(v) != ignore_index}


def _refuse_gaps(root: Path, parts, masks_with: dict[int, int]) -> None:
    """Without --num-classes or classes.txt the class count is the largest mask value + 1. When that would leave
    more of the ids 0..largest in no mask than in some (0..9 and a stray 200 in 3 of 12 masks: 190 empty
    classes of 201), the values are not class ids as they stand: refused, naming the values above the widest
    gap and the masks holding them, for the user to say which it is (--num-classes N skips those masks, a
    larger N keeps them). One or two classes absent from a small set (0..8 and 10) train as before."""
    values = sorted(masks_with)
    if not values:
        return
    top = values[-1]
    empty = top + 1 - len(values)
    if empty <= len(values):
        return
    steps = list(zip([-1, *values], values))  # the widest jump between present ids; -1: ids below the first
    low, high = max(steps, key=lambda st: st[1] - st[0])
    above = [v for v in values if v >= high]
    holding = [name for p in parts for name, counts in zip(p.names, p.value_counts()) if counts[above].any()]
    total = sum(len(p) for p in parts)
    shown = ", ".join(holding[:3]) + (f" and {len(holding) - 3} more" if len(holding) > 3 else "")
    skip = f"--num-classes {max(low + 1, 2)} to skip the masks holding them, " if low >= 0 else ""
    binary = " or --binary (any non-zero value is foreground)" if len(values) == 2 and values[0] == 0 else ""
    raise UserInputError(
        f"{root}: mask values {_ranges(values)} would make {top + 1} classes, {empty} of them in no mask; "
        f"{_ranges(above)} in {len(holding)} of {total} masks ({shown}) are no class ids as they stand: give "
        f"{skip}--num-classes {top + 1} if every id up to {top} is a class{binary}, or a classes.txt"
    )


def inferred_classes_warning(masks_with: dict[int, int], masks: int) -> str | None:
    """With neither --num-classes nor classes.txt the class count is the largest mask value + 1, so one stray
    value (a 7 painted by mistake) silently adds classes: say so when the largest value occurs in only one
    mask, or in at most 1 % of them, naming the ids below it that occur in none."""
    if not masks_with:
        return None
    top = max(masks_with)
    if masks_with[top] > max(1, masks // 100):
        return None
    unused = [v for v in range(top) if v not in masks_with]
    gap = f"; {_ranges(unused)} in none" if unused else ""
    below = max((v for v in masks_with if v < top), default=1) + 1
    return (
        f"warning: {top + 1} classes inferred from the mask values (largest {top}, in {masks_with[top]} of "
        f"{masks} masks{gap}); if {top} is a stray value, give --num-classes {max(below, 2)} or a classes.txt"
    )


def _ranges(values: list[int]) -> str:
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}..{v}")
            start = None
    return ", ".join(out)


def load_eval_set(data: str, cfg, info: dict) -> MaskedImages:
    """A user-given folder of images/ + masks/ checked against the run's classes."""
    root = Path(data)
    if not root.is_dir():
        raise UserInputError(f"{data}: no such folder (expected images/ and masks/)")
    classes_txt = next((p for p in (root / "classes.txt", root.parent / "classes.txt") if p.is_file()), None)
    skips = SkipLog("image/mask pairs", strict=cfg.strict)
    pairs = scan_pairs(root, info["image_size"], read_classes(classes_txt) if classes_txt else None, skips)
    if cfg.binary:
        pairs = _binarize(pairs, cfg.ignore_index)
    pairs = check_values(pairs, len(info["class_names"]), cfg.ignore_index, skips)
    skips.report()
    return pairs


CANVAS_FORMATS = ("masks",)  # what ``edgesuite data make-canvas --format`` writes for this app


def write_canvas(
    out: str, fmt: str, count: int, size: int, seed: int, max_items: int | None = None, train_items: int | None = None
) -> dict:
    """``edgesuite data make-canvas --format masks``: the canvases as train/ val/ test/ folders of images/ and
    masks/ (8-bit grey PNGs of class ids) with classes.txt, what ``--data`` of this app reads; ``max_items`` and
    ``train_items`` (None: the embedded canvases' count) as for the detector."""
    from PIL import Image

    from edgesuite.common.canvas import ITEMS, write_splits

    if fmt not in CANVAS_FORMATS:
        raise UserInputError(f"--format: expected one of {', '.join(CANVAS_FORMATS)}, got {fmt!r}")
    max_items, train_items = max_items or ITEMS, train_items or ITEMS

    def write(folder: Path, c) -> None:
        for sub in ("images", "masks"):
            (folder / sub).mkdir(parents=True)
        for i in range(len(c)):
            Image.fromarray(c.images[i]).save(folder / "images" / f"{folder.name}_{i:05d}.png")
            Image.fromarray(c.masks[i]).save(folder / "masks" / f"{folder.name}_{i:05d}.png")
        (folder.parent / "classes.txt").write_text("\n".join(c.mask_class_names) + "\n")

    return write_splits(out, count, size, seed, write, items=(max_items, train_items))


def columns(data: MaskedImages) -> tuple:
    """(images, masks): what a split's ``tf.data`` rows are made of."""
    return data.images, data.masks


def to_dataset(data: MaskedImages):
    """Unbatched ``tf.data`` of (uint8 image (S,S,3), uint8 mask (S,S)), decoded from the files if on disk."""
    return columns_dataset(columns(data))
