"""The shared augmentation library: one factory from a spec string.

Built on Keras core preprocessing layers (Keras >= 3.6), which take a dict
``{"images", "labels", "bounding_boxes", "segmentation_masks"}`` and move
boxes and masks with the pixels. Each app asks for an :class:`Augmenter` with
:func:`build_augmenter` and maps it over *batches* in its ``tf.data`` pipeline
(vectorised, and off the training step).

Spec grammar (the ``--augment`` flag): comma-separated ``name`` or
``name=value``; ``none`` turns augmentation off; ``default`` is the task's
default. Names and what the value means:

========== =========================================== ===========
name       layer                                       value
========== =========================================== ===========
flip       RandomFlip                                  horizontal | vertical | horizontal_and_vertical
rotate     RandomRotation                              fraction of a full turn (0.05 = +-18 deg)
zoom       RandomZoom                                  +- fraction
translate  RandomTranslation                           +- fraction of the size
crop       RandomZoom in, then RandomTranslation       smallest kept fraction of each side
contrast   RandomContrast                              factor
brightness RandomBrightness                            factor
color      RandomColorJitter (brightness, contrast,    strength
           saturation, hue)
noise      GaussianNoise on pixels                     std-dev as a fraction of 255
randaugment RandAugment                                number of ops
mixup      MixUp (classification only)                 alpha
cutmix     CutMix (classification only)                factor
erase      RandomErasing: a rectangle of 2-25 % of the    probability an image gets one (<= 1)
           image set to noise (classification only)
========== =========================================== ===========
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesuite.common import precision
from edgesuite.common.errors import UserInputError

GEOMETRIC = {"flip", "rotate", "zoom", "translate", "crop"}
COLOUR = {"contrast", "brightness", "color", "noise", "randaugment"}
LABEL_MIXING = {"mixup", "cutmix"}
CLASSIFICATION_ONLY = LABEL_MIXING | {"erase"}  # erasing would hide boxes and mask pixels the targets still show
DEFAULT_VALUES = {
    "flip": "horizontal",
    "rotate": 0.05,
    "zoom": 0.1,
    "translate": 0.1,
    "crop": 0.9,
    "contrast": 0.2,
    "brightness": 0.2,
    "color": 0.2,
    "noise": 0.03,
    "randaugment": 2,
    "mixup": 0.2,
    "cutmix": 1.0,
    "erase": 0.5,
}
# image classification's 'default', by whether the classes keep their class mirrored (apps/image_classification/
# data.py flip_evidence): tests/benchmarks/RESULTS.md (image classification, data fitting) has the figures
CLASSIFICATION_DEFAULTS = {True: "flip,erase", False: "translate=0.1"}
TASK_DEFAULTS = {
    "classification": CLASSIFICATION_DEFAULTS[True],
    "detection": "flip,zoom=0.1,translate=0.1,color=0.2",
    "segmentation": "flip,zoom=0.1,translate=0.1,color=0.2",
}


@dataclass(frozen=True)
class AugmentOp:
    name: str
    value: object


def parse_spec(spec: str, task: str = "classification") -> list[AugmentOp]:
    """Parses ``'flip,translate=0.1'``; an unknown name or bad value names the item."""
    spec = (spec or "none").strip()
    if spec == "default":
        spec = TASK_DEFAULTS[task]
    if spec in ("none", ""):
        return []
    ops = []
    for item in spec.split(","):
        item = item.strip()
        name, _, raw = item.partition("=")
        name = name.strip().lower()
        if name not in DEFAULT_VALUES:
            raise UserInputError(
                f"augment: unknown augmentation '{name}' in '{spec}'; known: {', '.join(DEFAULT_VALUES)}"
            )
        if name in CLASSIFICATION_ONLY and task != "classification":
            raise UserInputError(
                f"augment: '{name}' {'mixes labels' if name in LABEL_MIXING else 'hides pixels'} "
                f"and only applies to classification, not {task}"
            )
        default = DEFAULT_VALUES[name]
        if not raw:
            value = default
        elif isinstance(default, str):
            value = raw.strip()
        else:
            try:
                value = type(default)(raw)
            except ValueError:
                raise UserInputError(f"augment: '{item}' expects a {type(default).__name__} value") from None
            if value <= 0:
                raise UserInputError(f"augment: '{item}' expects a value > 0")
        ops.append(AugmentOp(name, value))
    return ops


class Augmenter:
    """Applies a list of Keras preprocessing layers to a batch dict, training mode.

    Input and output: ``{"images": uint8/float (B,H,W,C), "labels": ...,
    "bounding_boxes": {"boxes", "labels"}, "segmentation_masks": ...}``; keys a
    task does not have are simply absent. Images come back as float32 in
    [0, 255]; the model's own Rescaling layer normalises them.
    """

    def __init__(
        self,
        ops: list[AugmentOp],
        image_size: tuple[int, int],
        bounding_box_format: str = "xyxy",
        seed: int = 0,
        min_box_visibility: float = 0.0,
    ):
        if min_box_visibility and bounding_box_format != "xyxy":
            raise ValueError("min_box_visibility needs bounding_box_format='xyxy'")
        self.ops = ops
        self.image_size = image_size
        self.min_box_visibility = float(min_box_visibility)
        # Input processing runs in float32 whatever the global policy: under mixed_bfloat16 the layers would
        # compute pixels in bf16 (8 bits of mantissa on 0..255) and MixUp / CutMix fail on the dtype. The
        # layers are built under a float32 policy because composite ones (RandomColorJitter, RandAugment)
        # build their inner layers from the global policy, not from their own dtype.
        with precision.scope(precision.INPUT_DTYPE, log=lambda _: None):
            self.layers = self._build_layers(ops, bounding_box_format, seed)

    @staticmethod
    def _build_layers(ops: list[AugmentOp], bounding_box_format: str, seed: int) -> list:
        import keras

        out = []
        kw = {"bounding_box_format": bounding_box_format}
        for i, op in enumerate(ops):
            s = seed + 1009 * (i + 1)
            v = op.value
            if op.name == "flip":
                if v not in ("horizontal", "vertical", "horizontal_and_vertical"):
                    raise UserInputError(f"augment: flip={v} expects horizontal, vertical or horizontal_and_vertical")
                layers = [keras.layers.RandomFlip(v, seed=s, **kw)]
            elif op.name == "rotate":
                layers = [keras.layers.RandomRotation(v, fill_mode="constant", seed=s, **kw)]
            elif op.name == "zoom":
                layers = [keras.layers.RandomZoom(v, v, fill_mode="constant", seed=s, **kw)]
            elif op.name == "translate":
                layers = [keras.layers.RandomTranslation(v, v, fill_mode="constant", seed=s, **kw)]
            elif op.name == "crop":
                if not 0 < v < 1:
                    raise UserInputError(f"augment: crop={v} expects a kept fraction in (0, 1)")
                # A zoom-in plus a shift rather than RandomCrop + Resizing: Keras 3.15's
                # RandomCrop moves boxes by the swapped (x, y) offset (seen: box shifted
                # by (2, 6) where the pixels moved by (6, 2)); masks were right.
                cut = 1.0 - v
                layers = [
                    keras.layers.RandomZoom((-cut, 0.0), (-cut, 0.0), fill_mode="constant", seed=s, **kw),
                    keras.layers.RandomTranslation(cut / 2, cut / 2, fill_mode="constant", seed=s + 1, **kw),
                ]
            elif op.name == "contrast":
                layers = [keras.layers.RandomContrast(min(v, 1.0), value_range=(0, 255), seed=s, **kw)]
            elif op.name == "brightness":
                layers = [keras.layers.RandomBrightness(min(v, 1.0), value_range=(0, 255), seed=s, **kw)]
            elif op.name == "color":
                layers = [
                    keras.layers.RandomColorJitter(
                        value_range=(0, 255),
                        brightness_factor=v,
                        contrast_factor=v,
                        saturation_factor=(0.5 - v / 2, 0.5 + v / 2),
                        hue_factor=(0, v / 4),
                        seed=s,
                        **kw,
                    )
                ]
            elif op.name == "noise":
                layers = [_PixelNoise(255.0 * v, seed=s)]
            elif op.name == "randaugment":
                layers = [keras.layers.RandAugment(value_range=(0, 255), num_ops=int(v), seed=s, **kw)]
            elif op.name == "mixup":
                layers = [keras.layers.MixUp(alpha=v, seed=s)]
            elif op.name == "cutmix":
                layers = [keras.layers.CutMix(factor=v, seed=s)]
            elif op.name == "erase":
                if v > 1:
                    raise UserInputError(f"augment: erase={v} expects a probability in (0, 1]")
                layers = [keras.layers.RandomErasing(factor=v, scale=(0.02, 0.25), value_range=(0, 255), seed=s)]
            out.extend(layers)
        return out

    def __call__(self, batch: dict) -> dict:
        import tensorflow as tf

        batch = tf.nest.map_structure(tf.convert_to_tensor, dict(batch))
        batch["images"] = tf.cast(batch["images"], tf.float32)
        probe = "bounding_boxes" in batch and self.min_box_visibility > 0
        if probe:
            batch["bounding_boxes"], areas = self._add_probe(batch["bounding_boxes"])
        grey = batch["images"].shape[-1] == 1
        for layer in self.layers:
            if grey and isinstance(layer, RGB_ONLY()):  # their HSV ops need 3 channels: grey as RGB and back
                batch["images"] = tf.tile(batch["images"], [1, 1, 1, 3])
                batch = layer(batch, training=True)
                batch["images"] = batch["images"][..., :1]  # saturation and hue leave grey grey: any channel
            else:
                batch = layer(batch, training=True)
        if probe:
            batch["bounding_boxes"] = self._drop_hidden(batch["bounding_boxes"], areas)
        batch["images"] = tf.clip_by_value(batch["images"], 0.0, 255.0)
        return batch

    # Keras' layers clip a box to the image but keep it however little is left. To drop
    # boxes that are mostly cut off, each image gets one extra "probe" box, a small one
    # at its centre that no flip, zoom or shift of the allowed sizes pushes out: its area
    # after / before is how much that image's transform scaled areas, so a box's visible
    # share is its clipped area after / (its area before x that scale).
    def _add_probe(self, boxes: dict):
        import tensorflow as tf

        h, w = self.image_size
        b = tf.cast(boxes["boxes"], tf.float32)
        n = tf.shape(b)[0]
        probe = tf.tile(tf.constant([[[0.45 * w, 0.45 * h, 0.55 * w, 0.55 * h]]], tf.float32), [n, 1, 1])
        labels = tf.cast(boxes["labels"], tf.float32)
        out = {"boxes": tf.concat([b, probe], 1), "labels": tf.concat([labels, tf.zeros([n, 1], labels.dtype)], 1)}
        return out, _box_area(out["boxes"])

    def _drop_hidden(self, boxes: dict, areas_before):
        import tensorflow as tf

        after = _box_area(boxes["boxes"])
        scale = after[:, -1:] / areas_before[:, -1:]
        visible = tf.math.divide_no_nan(after[:, :-1], areas_before[:, :-1] * scale)
        labels = boxes["labels"][:, :-1]
        labels = tf.where(
            (visible < self.min_box_visibility) | (after[:, :-1] <= 0), tf.constant(-1, labels.dtype), labels
        )
        return {"boxes": boxes["boxes"][:, :-1], "labels": labels}

    def __bool__(self) -> bool:
        return bool(self.layers)


class _PixelNoise:
    """Additive Gaussian noise on the images of a batch dict only.

    keras.layers.GaussianNoise caps stddev at 1 (it is meant for activations);
    pixels here are in [0, 255].
    """

    def __init__(self, stddev: float, seed: int):
        self.stddev, self.seed = stddev, seed

    def __call__(self, batch: dict, training: bool = True) -> dict:
        import tensorflow as tf

        images = batch["images"]
        noise = tf.random.normal(tf.shape(images), stddev=self.stddev, seed=self.seed, dtype=images.dtype)
        return {**batch, "images": images + noise}


def _box_area(boxes):
    import tensorflow as tf

    return tf.maximum(boxes[..., 2] - boxes[..., 0], 0.0) * tf.maximum(boxes[..., 3] - boxes[..., 1], 0.0)


def RGB_ONLY() -> tuple:
    """The Keras layers that convert to HSV (3 channels only): a grey batch goes through them as RGB."""
    import keras

    return (keras.layers.RandomColorJitter, keras.layers.RandAugment)


def build_augmenter(
    spec: str,
    task: str,
    image_size: tuple[int, int],
    seed: int = 0,
    bounding_box_format: str = "xyxy",
    min_box_visibility: float = 0.0,
) -> Augmenter:
    """The one factory every vision app uses: spec string in, Augmenter out.

    ``min_box_visibility``: boxes (``xyxy``) of which less than this share stays in the
    picture after the geometric transforms get label -1 (dropped).
    """
    return Augmenter(
        parse_spec(spec, task),
        image_size,
        bounding_box_format=bounding_box_format,
        seed=seed,
        min_box_visibility=min_box_visibility,
    )
