"""tf.data helpers shared by the apps: file checks, splits, and the pipeline.

The pipeline order is decode -> resize -> cache -> shuffle -> batch -> augment
-> prefetch: decoding happens once (cached), augmentation runs on whole
batches (vectorised Keras layers) in parallel with the training step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say, warn

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}


@dataclass
class SkipLog:
    """Counts inputs skipped in non-strict mode; prints one warning at the end.

    ``strict=True`` turns the first skippable problem into a UserInputError.
    """

    what: str
    strict: bool = False
    items: list[tuple[str, str]] = field(default_factory=list)

    def skip(self, item: str, reason: str) -> None:
        if self.strict:
            raise UserInputError(f"{item}: {reason}")
        self.items.append((item, reason))

    def report(self, log=None) -> None:
        if not self.items:
            return
        log = log or warn
        first = "; ".join(f"{i}: {r}" for i, r in self.items[:3])
        more = f" (and {len(self.items) - 3} more)" if len(self.items) > 3 else ""
        log(f"warning: skipped {len(self.items)} {self.what}: {first}{more}. Use --strict to fail instead.")


def check_label(name: str, where: str) -> str:
    """A class name as it goes into label files one per line (TFLite metadata, MediaPipe, Core ML, the sidecar
    JSON); one holding a control character (a newline, a tab, NUL) or a line separator is a UserInputError
    naming ``where`` (the folder, file and line, or key it came from), so it is refused before training, not
    by the exporter after it."""
    import unicodedata

    def control(ch: str) -> bool:
        return unicodedata.category(ch) in ("Cc", "Zl", "Zp")

    bad = next((ch for ch in str(name) if control(ch)), None)
    if bad is not None:
        where = "".join(repr(ch)[1:-1] if control(ch) else ch for ch in str(where))  # the message stays one line
        raise UserInputError(
            f"{where}: class name {str(name)!r} holds the control character {bad!r}; class names go "
            "into label files one per line: rename it without control characters"
        )
    return name


def check_labels(names, where: str) -> list[str]:
    """:func:`check_label` for each of ``names`` (the classes listed by one file: ``where``), which must be
    strings or numbers and differ from each other: two classes of one name could not be told apart by it."""
    out = []
    for n in names:
        if not isinstance(n, (str, int, float)) or isinstance(n, bool):
            raise UserInputError(
                f"{where}: class name {n!r} is a {type(n).__name__ if n is not None else 'null'}, expected a string"
            )
        out.append(check_label(str(n), where))
    twice = next((n for i, n in enumerate(out) if n in out[:i]), None)
    if twice is not None:
        raise UserInputError(f"{where}: class name {twice!r} is listed twice; each class needs a name of its own")
    return out


CANVAS_SIZE = 64  # the side the embedded canvases are drawn at when --image-size is left to the data
FITTED_SIDES = (32, 256, 16)  # --image-size 0: the images' median side, a multiple of 16 in 32..256


def with_image_size(cfg, log=say):
    """``cfg`` with ``image_size`` from the data when it is 0: the images' median shorter side (native
    resolution) as a multiple of 16 in 32..256, the canvases' 64 px for the embedded set; a set of other sizes
    is resized to it. Segmentation and detection call it first in ``load_data``; the driver keeps the result
    (``info["image_size"]``) in the run's config."""
    import dataclasses

    from edgesuite.common.decode import native_side

    if cfg.image_size:
        return cfg
    low, high, multiple = FITTED_SIDES
    found = native_side(cfg.data) if cfg.data not in ("", "canvas") and Path(cfg.data).is_dir() else None
    if found is None:
        size = CANVAS_SIZE
    else:
        side, n = found
        size = int(min(high, max(low, round(side / multiple) * multiple)))
        log(
            f"image-size from the data: {size} px (median shorter side {side} px of {n} images; {low} to {high}; "
            "--image-size N sets it)"
        )
    return dataclasses.replace(cfg, image_size=size)


def check_image(path: Path, min_size: int = 1) -> tuple[int, int]:
    """Fully decodes an image file with PIL and returns (width, height).

    Raises ``ValueError`` for an unreadable or non-image file, or one above
    ``decode.MAX_IMAGE_PIXELS`` (callers decide
    whether that is skipped or fatal) and ``UserInputError`` when it is smaller
    than ``min_size`` on either side.
    """
    from edgesuite.common.decode import open_image

    with open_image(path) as im:
        w, h = im.size
    if min(w, h) < min_size:
        raise UserInputError(f"{path}: image is {w}x{h} pixels, smaller than the minimum {min_size}x{min_size}")
    return w, h


def stratified_split(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Splits indices per class by ``fractions`` (the rest is the first part).

    Deterministic for a seed; every class with enough items appears in every
    part. Returns ``[rest, part1, part2, ...]`` as sorted index arrays.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        start = 0
        for k, frac in enumerate(fractions, start=1):
            n = int(round(len(idx) * frac))
            if frac > 0 and n == 0 and len(idx) - start > 1:
                n = 1
            parts[k].append(idx[start : start + n])
            start += n
        parts[0].append(idx[start:])
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in parts]


def parity_draw(splits, n: int, seed: int) -> tuple:
    """The inputs an export's parity check runs on: ``(held, extra)``.

    ``held``: up to ``n`` items of the held-out split (test, else validation), in order,
    labelled: the task metric is judged on these. ``extra``: when the held-out split is
    smaller than ``n``, items drawn (by ``seed``) from the other splits, validation then
    training, up to ``n`` in all, so that the agreement of a quantized file with the Keras
    model is measured on enough inputs to mean something (one borderline item of a
    30-item test split would otherwise decide a 98 % gate). Agreement compares two
    renderings of the same function, so training inputs serve as well as held-out ones.
    ``splits`` has ``train``/``val``/``test`` with ``len`` and ``subset(indices)``.
    """
    test_first = splits.test is not None
    held = splits.test if test_first else splits.val
    held = held.subset(np.arange(min(n, len(held))))
    rng = np.random.default_rng(seed)
    extra, need = [], n - len(held)
    for part in ((splits.val,) if test_first else ()) + (splits.train,):
        if need <= 0 or part is None or not len(part):
            continue
        take = min(need, len(part))
        extra.append(part.subset(np.sort(rng.permutation(len(part))[:take])))
        need -= take
    return held, extra


def decode_image_file(path, channels: int):
    """Decodes an image file in-graph as uint8 with ``channels`` (1 or 3; 0: as stored): jpg/png/bmp/gif (first
    frame); 16-bit PNGs keep their high byte, as ``decode.eight_bit`` reads them for prediction.

    It decodes as stored and converts after: ``decode_image`` itself refuses ``channels=1`` for a GIF, a BMP or a
    CMYK JPEG, so a file that decodes here decodes for any ``channels`` (the image check calls this too). An
    alpha channel is dropped; colour becomes grey by ``tf.image.rgb_to_grayscale`` (Rec. 601, as Pillow's ``L``)."""
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
    if not channels:
        return image
    stored = tf.shape(image)[-1]
    image = image[..., : tf.where(stored % 2 == 0, stored - 1, stored)]  # LA -> L, RGBA -> RGB
    if channels == 1:
        image = tf.cond(tf.shape(image)[-1] == 3, lambda: tf.image.rgb_to_grayscale(image), lambda: image[..., :1])
    else:
        image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image[..., :3])
    image.set_shape([None, None, channels])
    return image


def decode_and_resize(path, channels: int, size: tuple[int, int]):
    """Reads an image file in-graph (:func:`decode_image_file`), uint8, resized."""
    import tensorflow as tf

    image = decode_image_file(path, channels)
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def batch_pipeline(
    ds,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    augment: Callable | None = None,
    cache: bool | str = True,
    drop_remainder: bool = False,
    shuffle_buffer: int | None = None,
):
    """cache -> shuffle -> batch -> augment -> prefetch, on a dataset of single examples.
    ``cache``: True in memory, a path: in files there (``common.stream.cache_target``), False: none.
    ``shuffle_buffer``: at most this many examples in the shuffle buffer (default: the whole set up to 20,000;
    a set read from a file cache gives a bound, since every buffered example is a fresh copy)."""
    import tensorflow as tf

    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if shuffle:
        size = min(ds.cardinality().numpy(), 20_000) if ds.cardinality() > 0 else 10_000
        ds = ds.shuffle(min(size, shuffle_buffer or size), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None:
        # One call at a time: Keras augmentation layers draw from a seed-generator
        # variable, and parallel calls race for it, so the same seed gave different
        # runs. Each call is a whole vectorised batch, still overlapped with the
        # training step by prefetch.
        ds = ds.map(augment, num_parallel_calls=None)
    return ds.prefetch(tf.data.AUTOTUNE)


def held_out_pipeline(app_data, cfg, info: dict, data: str | None):
    """Unshuffled batches of the run's held-out split (test, else validation), or of a user's set at ``data``
    read against the run's classes. ``app_data``: an app's data module (``load_splits``, ``load_eval_set``,
    ``to_dataset``), as segmentation and detection have one."""
    if data is None:
        splits = app_data.load_splits(cfg)
        part = splits.test if splits.test is not None else splits.val
    else:
        part = app_data.load_eval_set(data, cfg, info)
    return batch_pipeline(app_data.to_dataset(part), cfg.batch_size, shuffle=False, seed=cfg.seed, cache=False)
