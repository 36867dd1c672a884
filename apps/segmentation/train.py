"""Train a semantic-segmentation model on your images and masks (keras-io style, top to bottom).

    python apps/segmentation/train.py --data path/to/folder --epochs 30
    python apps/segmentation/train.py --help

Setup: the config comes from flags (and ``--config FILE.yaml``); data: a folder with
``images/`` and ``masks/`` matched by file stem (grey or palette PNG masks of class
indices, TIFF too; ``classes.txt`` names the classes), or the embedded canvases,
checked pair by pair and split by seed; augmentation moves image and mask together;
model: a compact U-Net or DeepLabV3+ on MobileNetV2, normalisation inside; train:
the shared driver (precision policy, optimizer, schedule, checkpoints, resume) with
cross-entropy (ignore index honoured, optionally plus Dice); evaluate: mIoU,
per-class IoU, pixel accuracy and Dice, mask overlays in plots/. This script is the
same as ``edgesuite train segmentation``.
"""

import sys

from edgesuite.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "segmentation", *sys.argv[1:]], prog="apps/segmentation/train.py"))
