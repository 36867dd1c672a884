"""Train an object detector on your boxes (keras-io style, top to bottom).

    python apps/object_detection/train.py --data path/to/coco_or_voc_or_yolo --epochs 40
    python apps/object_detection/train.py --help

Setup: the config comes from flags (and ``--config FILE.yaml``); data: a COCO
(``images/`` + annotations JSON), Pascal VOC (``JPEGImages/`` + ``Annotations/``)
or YOLO (``images/`` + ``labels/``) folder, or the embedded canvases, every box
checked (clipped or skipped with a count, ``--strict`` to fail); augmentation
moves boxes with the pixels and drops mostly hidden ones; model: an anchor-free
FCOS-style detector on a small feature pyramid, normalisation inside; train: the
shared driver (precision policy, optimizer, schedule, checkpoints, resume) with
focal + GIoU + centre-ness losses; evaluate: COCO mAP@0.5 and mAP@[.5:.95],
per-class AP, PR curves and boxes drawn on validation images in plots/. This
script is the same as ``edgesuite train object-detection``.
"""

import sys

from edgesuite.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", "object-detection", *sys.argv[1:]], prog="apps/object_detection/train.py"))
