"""Every knob of the semantic-segmentation app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import TrainConfig, knob
from edgesuite.common.errors import UserInputError

NAMED_SETS = ("canvas",)
LOSSES = ("ce", "ce+dice")


@dataclasses.dataclass
class Config(TrainConfig):
    data: str = knob("canvas", "a folder with images/ and masks/ (optionally inside train/ val/ test/), "
                               "or 'canvas': Fashion-MNIST items pasted on textured backgrounds (embedded)")
    # the default recipe is sized for the 20-minute budget on 2 CPU cores: an epoch of 3,000 canvases takes
    # 50 s here (80 s when the host runs slow, and then the budget ends it after ~16 epochs)
    epochs: int = knob(18, "number of training epochs")
    batch_size: int = knob(32, "global batch size")
    lr: float = knob(3e-3, "peak learning rate")
    early_stopping: int = knob(6, "stop after N epochs without a better val_miou (0 = off)")
    image_size: int = knob(64, "side of the square uint8 image the model takes (images and masks are resized to it)")
    num_classes: int = knob(0, "number of classes including background; 0 = from classes.txt, else the largest "
                               "mask value + 1")
    ignore_index: int = knob(255, "mask value that marks pixels no loss or metric looks at (VOC borders)")
    binary: bool = knob(False, "reduce masks to background (0) / foreground (any other value but the ignore index)")
    model: str = knob("unet", "architecture: a compact U-Net or DeepLabV3+ on a MobileNetV2 backbone",
                      ("unet", "deeplabv3plus"))
    width: float = knob(1.0, "width multiplier of the filters (MobileNetV2 alpha for deeplabv3plus)")
    weights: str = knob("none", "deeplabv3plus backbone weights: none, imagenet (downloads) or a local .h5 path")
    loss: str = knob("ce", "cross-entropy (ignore index honoured), optionally plus soft Dice", LOSSES)
    canvas_count: int = knob(3000, "canvas: number of training canvases (validation and test get a sixth of it each, 50 to 500)")
    val_fraction: float = knob(0.1, "validation share when the data has no val/ split")
    test_fraction: float = knob(0.1, "test share when the data has no test/ split")
    augment: str = knob("default", "augmentations applied to image and mask together (masks nearest-neighbour), e.g. "
                                   "'flip,zoom=0.1,translate=0.1,color=0.2' ('none' = off)")

    def validate(self) -> None:
        super().validate()
        if self.image_size < 16 or self.image_size % 16:
            raise UserInputError(f"image_size: expected a multiple of 16 >= 16, got {self.image_size}")
        if self.model == "deeplabv3plus" and self.image_size < 32:
            raise UserInputError(f"image_size: deeplabv3plus needs at least 32, got {self.image_size}")
        if self.num_classes < 0 or self.num_classes == 1:
            raise UserInputError(f"num_classes: expected 0 (from the data) or an integer >= 2, got {self.num_classes}")
        if not 0 <= self.ignore_index <= 255:
            raise UserInputError(f"ignore_index: expected a mask value in 0..255, got {self.ignore_index}")
        if self.canvas_count < 1:
            raise UserInputError(f"canvas_count: expected an integer >= 1, got {self.canvas_count}")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise UserInputError("val_fraction, test_fraction: expected shares in [0, 1) adding up to less than 1")
        if self.width <= 0:
            raise UserInputError(f"width: expected a number > 0, got {self.width}")
        # Keras class weights do not apply to per-pixel targets, and the loss has no smoothing term
        if self.class_weight != "none":
            raise UserInputError("class_weight: not available for segmentation (per-pixel targets); "
                                 "use --loss ce+dice to lift thin or rare classes")
        if self.label_smoothing:
            raise UserInputError("label_smoothing: not available for segmentation")
