"""Keras building blocks the vision apps share (core layers only, so .keras/.h5 load without edgesuite)."""

from __future__ import annotations

from pathlib import Path

from keras import layers

from edgesuite.common.errors import UserInputError


def conv_bn(x, filters: int, name: str, kernel: int = 3, dilation: int = 1, strides: int = 1):
    """Conv (no bias) -> BatchNormalization -> ReLU, 'same' padding, named ``{name}_conv/_bn/_relu``.

    Momentum 0.9, not Keras' 0.99: with ~150 steps an epoch the moving variance
    (initialised at 1, true value ~0.002 after the first conv) must converge
    within an epoch, or validation runs on stale statistics (seen: 11 % val
    accuracy at 71 % train accuracy after epoch 1 with 0.99). ``synchronized``:
    under several replicas the statistics are those of the global batch, so a
    mirrored run computes what a single-device run does (no effect on one device).
    """
    x = layers.Conv2D(
        filters, kernel, strides=strides, padding="same", dilation_rate=dilation, use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(momentum=0.9, synchronized=True, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def mobilenetv2(image_size: int, width: float = 1.0, weights: str = "none"):
    """``keras.applications.MobileNetV2`` without its top, on (S, S, 3) inputs scaled to [-1, 1].

    ``weights``: ``none``; ``imagenet`` (downloads; needs a published width, 0.35..1.4); a weights file
    (``.weights.h5`` / ``.h5`` of a MobileNetV2 of that width); or a finished run folder of any edgesuite app
    whose model holds a MobileNetV2 (a layer named ``backbone``, or the ``Conv1`` .. ``out_relu`` layers
    inside a model), e.g. an image classifier trained on your own images to pretrain a detector's backbone.
    Convolution weights do not depend on the image side, so the run may have trained at another size."""
    import keras

    imagenet = weights == "imagenet"
    try:
        net = keras.applications.MobileNetV2(
            input_shape=(image_size, image_size, 3),
            alpha=width,
            include_top=False,
            weights="imagenet" if imagenet else None,
        )
    except Exception as exc:  # no network, or a size/width with no published weights
        if not imagenet:
            raise
        raise UserInputError(
            f"weights: could not get ImageNet weights for MobileNetV2 ({exc}); "
            "pass a local weights file or a run folder with --weights PATH"
        ) from None
    # Keras builds it with BatchNormalization momentum 0.999: from fresh statistics (no ImageNet weights) the
    # moving variance is still far off after a thousand steps, and validation runs on it (seen: 89 % training
    # accuracy, 10 % validation after 14 epochs of 71 steps); 0.9 as conv_bn, for every start
    for layer in net.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    if weights in ("none", "imagenet"):
        return net
    path = Path(weights)
    if path.is_dir():
        _copy_from_run(net, path)
        return net
    try:
        net.load_weights(weights)
    except (OSError, ValueError) as exc:
        raise UserInputError(f"{weights}: cannot load backbone weights ({exc})") from None
    return net


def _copy_from_run(net, run: Path) -> None:
    """The MobileNetV2 weights of the model in ``run`` (a run folder's ``model.keras``) into ``net``."""
    import keras

    model_path = run / "model.keras"
    if not model_path.exists():
        raise UserInputError(f"{run}: not a finished run (no model.keras) to take backbone weights from")
    model = keras.models.load_model(model_path, compile=False)
    source = _find_mobilenet(model)
    if source is None:
        raise UserInputError(
            f"{model_path}: holds no MobileNetV2 backbone to take weights from (train it with "
            "--model mobilenetv2, or --backbone mobilenetv2)"
        )
    mine = {layer.name: layer for layer in net.layers if layer.weights}
    copied = 0
    for layer in source.layers:
        if layer.weights and layer.name in mine:
            try:
                mine[layer.name].set_weights(layer.get_weights())
            except ValueError:
                raise UserInputError(
                    f"{model_path}: its MobileNetV2 has other shapes in layer {layer.name} "
                    "(another --width?); the backbone must have the same width"
                ) from None
            copied += 1
    if copied < len(mine):
        raise UserInputError(f"{model_path}: only {copied} of the backbone's {len(mine)} layers found there")


def _find_mobilenet(model):
    """The (nested) model that holds MobileNetV2's layers, or None."""
    import keras

    names = {layer.name for layer in model.layers}
    if {"Conv1", "block_16_project"} <= names:
        return model
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found = _find_mobilenet(layer)
            if found is not None:
                return found
    return None
