"""Image-classification data: folders, CSV files and named sets -> validated splits.

Every loader ends in :class:`LabelledImages` (file paths *or* a uint8 array,
plus int labels and class names). Files are fully decoded once with PIL up
front, so a corrupt file is found here, named, and skipped (or fatal with
``--strict``) instead of failing mid-epoch inside tf.data.
"""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesuite.common.data import IMAGE_EXTENSIONS, SkipLog, check_label, stratified_split
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import progress

GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


@dataclass
class LabelledImages:
    labels: np.ndarray
    paths: list[str] | None = None
    arrays: np.ndarray | None = None  # (N, H, W, C) uint8
    grey: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> LabelledImages:
        return LabelledImages(
            labels=self.labels[idx],
            paths=[self.paths[i] for i in idx] if self.paths is not None else None,
            arrays=self.arrays[idx] if self.arrays is not None else None,
            grey=self.grey,
        )


@dataclass
class ImageSplits:
    train: LabelledImages
    val: LabelledImages | None
    test: LabelledImages | None
    class_names: list[str]
    data_name: str


def _check_files(
    items: list[tuple[str, str]], skips: SkipLog, min_size: int, channels: int = 0
) -> list[tuple[str, str, bool]]:
    """Checks each (path, where) in a thread pool; returns (path, where, is_grey) of the good ones.

    A file is decoded here by the function the training pipeline decodes it with
    (``common.data.decode_image_file``, with ``--channels``), so what passes will not fail mid-epoch: Pillow
    opens more than TensorFlow decodes (a TIFF named .png, a 1-bit BMP, a PNG cut before its end). Pillow
    reads the header first, for the pixel limit, the mode and, when TensorFlow refuses a file, what the file
    really is.
    """
    import tensorflow as tf

    from edgesuite.common.data import decode_image_file
    from edgesuite.common.decode import open_image

    def check(item):
        path, where = item
        try:
            with open_image(path, load=False) as im:
                mode, kind, (w, h) = im.mode, im.format, im.size
            try:
                decode_image_file(path, channels)
            except tf.errors.InvalidArgumentError as exc:
                why = str(exc.message).split("}}")[-1].split("[Op:")[0].strip().rstrip(".")
                raise ValueError(
                    f"TensorFlow cannot decode it ({why}); Pillow reads it as {kind} {mode}: re-save "
                    "it as PNG (8-bit grey, RGB or RGBA) or JPEG"
                ) from None
            if min(w, h) < min_size:
                raise UserInputError(f"{path}: image is {w}x{h} pixels, smaller than the minimum {min_size}x{min_size}")
            return path, where, mode in GREY_MODES, None
        except ValueError as exc:
            return path, where, False, str(exc)

    good = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(check, items)
        for path, where, grey, err in progress(
            results, total=len(items), desc="checking images", unit="img", disable=len(items) < 500, leave=False
        ):
            if err:
                skips.skip(where, err)
            else:
                good.append((path, where, grey))
    return good


def scan_class_folders(
    root: Path, skips: SkipLog, min_size: int, known: list[str] | None = None, channels: int = 0
) -> LabelledImages:
    """``root/<class>/<image>``; ``known`` maps names to the training label ids; ``channels``: what the
    images are decoded to (0: as stored)."""
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserInputError(f"{root}: expected one sub-folder per class holding images, found none")
    names = [check_label(d.name, str(root)) for d in class_dirs]
    if known is not None:
        unseen = [n for n in names if n not in known]
        if unseen:
            raise UserInputError(
                f"{root / unseen[0]}: label '{unseen[0]}' was not seen in training; training labels: {', '.join(known)}"
            )
    label_of = {n: (known.index(n) if known is not None else i) for i, n in enumerate(names)}
    items, others = [], SkipLog("files that are not images (by extension)", strict=skips.strict)
    for d in class_dirs:
        files = sorted(p for p in d.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
        for p in files:
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                others.skip(str(p), f"not an image file (expected {', '.join(sorted(IMAGE_EXTENSIONS))})")
        if not images:
            raise UserInputError(f"{d}: class folder holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        items += [(str(p), d.name) for p in images]
    others.report()
    good = _check_files([(p, p) for p, _ in items], skips, min_size, channels)
    class_of = dict(items)
    counts = {n: 0 for n in names}
    for p, _, _ in good:
        counts[class_of[p]] += 1
    empty = [n for n, c in counts.items() if c == 0]
    if empty:
        raise UserInputError(f"{root / empty[0]}: no readable image left in this class folder")
    return LabelledImages(
        labels=np.array([label_of[class_of[p]] for p, _, _ in good], dtype=np.int64),
        paths=[p for p, _, _ in good],
        grey=all(g for _, _, g in good),
    )


def read_label_csv(
    path: Path, skips: SkipLog, min_size: int, known: list[str] | None = None, channels: int = 0
) -> tuple[LabelledImages, list[str]]:
    """A CSV of ``path,label`` rows (header optional); relative paths are relative to the CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    start = 1 if rows and [c.strip().lower() for c in rows[0][:2]] == ["path", "label"] else 0
    entries = []
    for line, row in enumerate(rows[start:], start=start + 1):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 2:
            raise UserInputError(f"{path}:{line}: expected 'path,label', got {','.join(row)!r}")
        file, label = row[0].strip(), check_label(row[1].strip(), f"{path}:{line}")
        full = (path.parent / file) if not Path(file).is_absolute() else Path(file)
        if not full.exists():
            raise UserInputError(f"{path}:{line}: image file {file!r} does not exist (looked at {full})")
        entries.append((str(full), label, line))
    if not entries:
        raise UserInputError(f"{path}: no 'path,label' rows found")
    names = known or sorted({label for _, label, _ in entries})
    for _full, label, line in entries:
        if label not in names:
            raise UserInputError(
                f"{path}:{line}: label '{label}' was not seen in training; training labels: {', '.join(names)}"
            )
    good = _check_files([(full, f"{path}:{line} ({full})") for full, _, line in entries], skips, min_size, channels)
    label_of = {full: label for full, label, _ in entries}
    return LabelledImages(
        labels=np.array([names.index(label_of[p]) for p, _, _ in good], dtype=np.int64),
        paths=[p for p, _, _ in good],
        grey=all(g for _, _, g in good),
    ), names


def _named(name: str) -> tuple[LabelledImages, LabelledImages, list[str]]:
    from edgesuite.common.datasets import fashion_mnist

    (x_tr, y_tr), (x_te, y_te) = (
        fashion_mnist.load_subset() if name == "fashion-mnist-subset" else fashion_mnist.load_full()
    )
    return (
        LabelledImages(labels=y_tr.astype(np.int64), arrays=x_tr[..., None], grey=True),
        LabelledImages(labels=y_te.astype(np.int64), arrays=x_te[..., None], grey=True),
        list(fashion_mnist.CLASS_NAMES),
    )


def load_splits(cfg) -> ImageSplits:
    """Resolves ``cfg.data`` to train/val/test, deterministic for ``cfg.data_seed``."""
    from edgesuite.apps.image_classification.config import NAMED_SETS

    skips = SkipLog("unreadable images", strict=cfg.strict)
    data = cfg.data
    explicit_test = None
    if data in NAMED_SETS:
        pool, explicit_test, names = _named(data)
    else:
        path = Path(data)
        if not path.exists():
            raise UserInputError(f"{data}: no such file or folder, and not a named set ({', '.join(NAMED_SETS)})")
        if path.is_dir() and (path / "train").is_dir():
            names = sorted(d.name for d in (path / "train").iterdir() if d.is_dir() and not d.name.startswith("."))
            if len(names) == 1:  # as the flat layout: one class would train to 'accuracy 1.0' and learn nothing
                raise UserInputError(
                    f"{path / 'train'}: found only one class ({names[0]}); classification needs at least two"
                )
            train = scan_class_folders(path / "train", skips, cfg.min_image_size, channels=cfg.channels)
            val_dir = next((path / n for n in ("val", "validation") if (path / n).is_dir()), None)
            val = (
                scan_class_folders(val_dir, skips, cfg.min_image_size, known=names, channels=cfg.channels)
                if val_dir
                else None
            )
            test = (
                scan_class_folders(path / "test", skips, cfg.min_image_size, known=names, channels=cfg.channels)
                if (path / "test").is_dir()
                else None
            )
            if val is None:
                rest, v = stratified_split(train.labels, (cfg.val_fraction,), cfg.data_seed)
                train, val = train.subset(rest), train.subset(v)
            skips.report()
            return ImageSplits(train, val, test, names, path.name)
        if path.is_dir():
            pool = scan_class_folders(path, skips, cfg.min_image_size, channels=cfg.channels)
            names = sorted(d.name for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
        elif path.suffix.lower() == ".csv":
            pool, names = read_label_csv(path, skips, cfg.min_image_size, channels=cfg.channels)
        else:
            raise UserInputError(
                f"{data}: expected a folder of class sub-folders, a .csv of path,label, "
                f"or a named set ({', '.join(NAMED_SETS)})"
            )
    skips.report()
    if len(names) < 2:
        raise UserInputError(f"{data}: found only one class ({names[0]}); classification needs at least two")
    fractions = (cfg.val_fraction,) if explicit_test is not None else (cfg.val_fraction, cfg.test_fraction)
    parts = stratified_split(pool.labels, fractions, cfg.data_seed)
    train = pool.subset(parts[0])
    val = pool.subset(parts[1]) if len(parts[1]) else None
    test = explicit_test if explicit_test is not None else (pool.subset(parts[2]) if len(parts[2]) else None)
    return ImageSplits(train, val, test, names, data if data in NAMED_SETS else Path(data).name)


def load_eval_set(data: str, class_names: list[str], strict: bool, min_size: int, channels: int = 0) -> LabelledImages:
    """A user-given evaluation set, its labels mapped onto the training classes, its images decoded to the
    model's ``channels``."""
    skips = SkipLog("unreadable images", strict=strict)
    path = Path(data)
    if not path.exists():
        raise UserInputError(f"{data}: no such file or folder")
    if path.is_dir():
        images = scan_class_folders(path, skips, min_size, known=class_names, channels=channels)
    elif path.suffix.lower() == ".csv":
        images, _ = read_label_csv(path, skips, min_size, known=class_names, channels=channels)
    else:
        raise UserInputError(f"{data}: expected a folder of class sub-folders or a .csv of path,label")
    skips.report()
    return images


FITTED_SIDES = (16, 128, 4)  # --image-size 0: the median shorter side, a multiple of 4 in 16..128
# a pretrained EfficientNet-Lite: the median shorter side, a multiple of 32 from 64 up to its ImageNet 224
PRETRAINED_SIDES = (64, 224, 32)
MIRROR_SIDE = 16  # the flip evidence's short models read 16 px grey images


def fitted_image_size(images: LabelledImages, model: str = "cnn") -> tuple[int, int, int]:
    """``--image-size 0``: ``(size, median shorter side, images read)``, the native resolution as a multiple of 4
    in 16..128 (32 at the least for mobilenetv2; for EfficientNet-Lite a multiple of 32 in 64..224, the
    resolution its ImageNet features were learned at being the upper end); Fashion-MNIST's 28 px stay 28."""
    from edgesuite.common.decode import median_side

    if images.arrays is not None:
        side, n = min(images.arrays.shape[1:3]), len(images)
    else:
        side, n = median_side(images.paths) or (28, 0)
    low, high, multiple = PRETRAINED_SIDES if model.startswith("efficientnet") else FITTED_SIDES
    low = 32 if model == "mobilenetv2" else low
    return int(min(high, max(low, round(side / multiple) * multiple))), side, n


def _small_grey(images: LabelledImages, idx: np.ndarray) -> np.ndarray:
    from PIL import Image

    from edgesuite.common.decode import eight_bit, open_image

    out = np.zeros((len(idx), MIRROR_SIDE, MIRROR_SIDE), np.float32)
    for row, i in enumerate(idx):
        if images.arrays is not None:
            im = Image.fromarray(images.arrays[i].mean(-1).astype(np.uint8))
        else:
            with open_image(images.paths[i]) as opened:
                im = eight_bit(opened).convert("L")
        out[row] = np.asarray(im.resize((MIRROR_SIDE, MIRROR_SIDE), Image.BILINEAR), np.float32) / 255
    return out


@dataclass(frozen=True)
class FlipEvidence:
    """Whether mirrored images keep their labels, from two short models (:func:`flip_evidence`)."""

    keeps_labels: bool
    plain: float  # held-out accuracy of the short model trained on the images as they are
    flipped: float  # ... of the same model trained with half of its images mirrored
    extra_errors: int  # held-out images only the flip-trained model gets wrong, less those only the other does
    z: float  # extra_errors over its standard error under "mirroring changes nothing" (McNemar)
    held_out: int

    @property
    def reason(self) -> str:
        said = (
            f"a short model trained with mirrored images: held-out accuracy {self.flipped:.3f} against "
            f"{self.plain:.3f} without, {self.extra_errors:+d} errors of {self.held_out} at {self.z:.1f} "
            f"standard errors"
        )
        return said + ("" if self.keeps_labels else ": mirroring changes labels")


FLIP_SAMPLE = 3000  # images the flip evidence reads at most (up to 300 a class): ~10 s on 2 CPU cores
FLIP_EPOCHS = 12


def flip_evidence(images: LabelledImages, num_classes: int, seed: int = 0) -> FlipEvidence:
    """Do mirrored images keep their class? Two small CNNs train on half of a class-balanced sample (16 px grey),
    one on the images as they are and one with a fixed random half of them mirrored, and both classify the other
    half. Mirroring that keeps labels costs the second model little (the mirrored half only widens what it must
    learn); mirroring that changes them (a mirrored 2 is nearer a 5 than a 2, a mirrored 3 is no digit) teaches
    it wrong answers. Flips change labels when the second model's extra errors are both beyond noise (more than
    2 standard errors of the paired difference) and a quarter or more of the first model's errors. A set too
    small to show either keeps flips (no evidence against them).

    The global Keras seed is set to ``seed`` again afterwards, so the run's own model starts as it would
    without this step."""
    import keras  # here, not at the top: the numpy-only readers of this module stay free of TensorFlow

    from edgesuite.common import precision

    rng = np.random.default_rng(seed)
    per_class = max(2, min(300, FLIP_SAMPLE // max(1, num_classes)))
    fit_idx, held_idx = [], []
    for c in range(num_classes):
        idx = rng.permutation(np.flatnonzero(images.labels == c))[:per_class]
        fit_idx.append(idx[::2])
        held_idx.append(idx[1::2])
    fit_idx, held_idx = np.concatenate(fit_idx), np.concatenate(held_idx)
    if len(held_idx) < 2 or len(np.unique(images.labels[fit_idx])) < 2:
        return FlipEvidence(True, float("nan"), float("nan"), 0, 0.0, len(held_idx))
    x_fit, y_fit = _small_grey(images, fit_idx)[..., None], images.labels[fit_idx]
    x_held, y_held = _small_grey(images, held_idx)[..., None], images.labels[held_idx]
    mirrored = x_fit.copy()
    half = rng.random(len(mirrored)) < 0.5
    mirrored[half] = mirrored[half][:, :, ::-1]
    right = []
    with precision.scope("float32", log=lambda _: None):
        for x in (x_fit, mirrored):
            keras.utils.set_random_seed(seed)
            model = _short_cnn(num_classes)
            model.fit(x, y_fit, batch_size=32, epochs=FLIP_EPOCHS, verbose=0, shuffle=True)
            right.append(model.predict(x_held, batch_size=256, verbose=0).argmax(-1) == y_held)
    keras.utils.set_random_seed(seed)
    only_plain, only_flipped = int(np.sum(right[0] & ~right[1])), int(np.sum(~right[0] & right[1]))
    extra = only_plain - only_flipped
    z = extra / max(1.0, np.sqrt(only_plain + only_flipped))
    plain_errors = int(np.sum(~right[0]))
    changes = z > 2 and extra >= max(1, plain_errors) / 4
    return FlipEvidence(not changes, float(right[0].mean()), float(right[1].mean()), extra, float(z), len(y_held))


def _short_cnn(num_classes: int):
    import keras

    from edgesuite.common.training import build_training_state

    inputs = keras.Input((MIRROR_SIDE, MIRROR_SIDE, 1))
    x = inputs
    for filters in (16, 32):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    build_training_state(model)  # one trace of the train step, not two
    return model


def to_dataset(images: LabelledImages, num_classes: int, image_size: int, channels: int):
    """Unbatched ``tf.data`` of (uint8 image (S,S,C), one-hot float32 label)."""
    import tensorflow as tf

    from edgesuite.common.data import decode_and_resize

    onehot = np.eye(num_classes, dtype=np.float32)[images.labels]
    size = (image_size, image_size)
    if images.arrays is not None:
        x = images.arrays
        if x.shape[-1] != channels:
            x = np.repeat(x, channels, axis=-1) if channels == 3 else x.mean(-1, keepdims=True).round().astype(np.uint8)
        ds = tf.data.Dataset.from_tensor_slices((x, onehot))
        if x.shape[1:3] != size:
            ds = ds.map(
                lambda im, y: (tf.cast(tf.round(tf.image.resize(im, size, antialias=True)), tf.uint8), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        return ds
    ds = tf.data.Dataset.from_tensor_slices((images.paths, onehot))
    return ds.map(lambda p, y: (decode_and_resize(p, channels, size), y), num_parallel_calls=tf.data.AUTOTUNE)
