"""Every knob of the semantic-segmentation app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import WEIGHTS_HELP, Augmented, Streamed, TrainConfig, knob
from edgesuite.common.errors import UserInputError

NAMED_SETS = ("canvas",)
LOSSES = ("ce", "ce+dice")


@dataclasses.dataclass
class Config(TrainConfig, Augmented, Streamed):
    named_sets = NAMED_SETS  # --data values that name an embedded set, not a path
    data: str = knob("canvas", "a folder with images/ and masks/ (optionally inside train/ val/ test/), "
                               "or 'canvas': Fashion-MNIST items pasted on textured backgrounds (embedded)")
    # the default recipe is as many epochs as 20 minutes hold on the machine at hand (the budget rule of
    # common/training.fit_to_data); --time-budget 0 --epochs N: as long on any machine
    epochs: int = knob(18, "number of training epochs (under --time-budget: as many as fit, up to 200; --epochs N "
                           "keeps N)")
    time_budget: float = knob(20.0, "train for at most this many minutes (0 = off): after the first epoch, no epoch "
                                    "starts that would not end within them, and the cosine schedule decays over "
                                    "the epochs that fit", bounds=">= 0")
    batch_size: int = knob(32, "global batch size")
    lr: float = knob(3e-3, "peak learning rate")
    early_stopping: int = knob(6, "stop after N epochs without a better val_miou (0 = off)")
    image_size: int = knob(0, "side of the square uint8 image the model takes (images and masks are resized to it); "
                              "0 = from the data: the images' median side, a multiple of 16 in 32..256 (canvases: 64)")
    num_classes: int = knob(0, "number of classes including background; 0 = from classes.txt, else the largest "
                               "mask value + 1 (refused when most ids up to it are in no mask: a stray value)",
                            bounds=">= 0")
    ignore_index: int = knob(255, "mask value that marks pixels no loss or metric looks at (VOC borders)",
                             bounds="[0, 255]")
    binary: bool = knob(False, "reduce masks to background (0) / foreground (any other value but the ignore index)")
    model: str = knob("unet", "architecture: a compact U-Net or DeepLabV3+ on a MobileNetV2 backbone",
                      ("unet", "deeplabv3plus"))
    width: float = knob(1.0, "width multiplier of the filters (MobileNetV2 alpha for deeplabv3plus)", bounds="> 0")
    weights: str = knob("none", "deeplabv3plus: " + WEIGHTS_HELP)
    loss: str = knob("ce", "cross-entropy (ignore index honoured), optionally plus soft Dice", LOSSES)
    canvas_count: int = knob(3000, "canvas: number of training canvases (validation and test get a sixth of it each, "
                                   "50 to 500)", bounds=">= 1")
    augment: str = knob("default", "augmentations applied to image and mask together (masks nearest-neighbour), e.g. "
                                   "'flip,zoom=0.1,translate=0.1,color=0.2' ('none' = off)")

    def validate(self) -> None:
        super().validate()
        if self.image_size and (self.image_size < 16 or self.image_size % 16):
            raise UserInputError(f"image_size: expected a multiple of 16 >= 16, got {self.image_size}")
        if self.model == "deeplabv3plus" and 0 < self.image_size < 32:
            raise UserInputError(f"image_size: deeplabv3plus needs at least 32, got {self.image_size}")
        if self.num_classes == 1:
            raise UserInputError(f"num_classes: expected 0 (from the data) or an integer >= 2, got {self.num_classes}")
