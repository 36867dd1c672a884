"""Train an image classifier on your images (keras-io style, top to bottom).

    python apps/image_classification/train.py --data path/to/folder --epochs 20
    python apps/image_classification/train.py --help

Setup: the config comes from flags (and ``--config FILE.yaml``); data: a folder of
class sub-folders, a CSV of path,label, or a named set, checked and split by
seed; model: a compact CNN or a MobileNetV2 backbone with resizing and
normalisation inside; train: the shared driver (precision policy, optimizer,
schedule, checkpoints, resume); evaluate: accuracy, macro F1, ROC-AUC and
plots in the run directory. This script is the same as
``edgesuite train image-classification``.
"""

import sys

from edgesuite.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "image-classification", *sys.argv[1:]], prog="apps/image_classification/train.py"))
