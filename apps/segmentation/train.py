"""Semantic segmentation on your own images and masks, top to bottom as a keras-io example reads:
setup, data, model, train, evaluate, export.

    python apps/segmentation/train.py                                  # the embedded canvases
    python apps/segmentation/train.py --data cells/ --epochs 60        # cells/images + cells/masks

The folder holds images/ and masks/ matched by file stem (grey or palette PNG masks of class ids, TIFF
too; classes.txt names the classes, or gives 'name R G B' lines for colour masks). This script runs
the recipe below in one process; `edgesuite train segmentation` runs the same recipe and adds
--resume, --time-budget and multi-worker training.
"""

import sys

from edgesuite import api
from edgesuite.common.log import say

# Setup: the recipe's knobs, in view. Each number lives once, as the default in apps/segmentation/config.py
# (what `edgesuite train segmentation` runs), and the script prints them as it starts; a flag changes one
# (--lr 1e-3), and `--help` lists them all.
RECIPE = (
    "model",
    "width",
    "image_size",  # a light LinkNet-style U-Net; 0: the images' side
    "loss",  # cross-entropy; "ce+dice" lifts thin classes
    "augment",  # flip, zoom, shift, colour: masks move too
    "epochs",
    "time_budget",  # as many epochs as fit in the time budget (minutes), up to --epochs
    "early_stopping",
    "batch_size",
    "optimizer",
    "lr",
    "schedule",
)


def main(argv=None) -> int:
    knobs, formats = api.script_arguments("segmentation", __doc__, RECIPE, argv)  # every knob as a flag
    task, cfg = api.prepare("segmentation", **knobs)

    # Data: each image/mask pair is checked (sizes agree, values are class ids or the ignore index) and
    # resized, the image bilinear and the mask nearest-neighbour, so no new class value appears.
    data = task.load_data(cfg)
    say(f"{data.train_size} training pairs at {data.info['image_size']} px; mask value -> class:")
    say("  " + ", ".join(f"{value} {name}" for value, name in enumerate(data.info["class_names"])))

    # Model: uint8 images in, per-pixel class probabilities out (a uint8 class map beside them in the
    # serving graphs); normalisation is inside, so exports carry it.
    model = task.build_model(cfg, data.info)
    say(f"model: {cfg.model}, {model.count_params():,} parameters, {model.input_shape} -> {model.output_shape}")

    # Train: the shared driver; the best epoch by validation mIoU, early stopping after 6 without gain.
    run = api.fit(task, cfg, data)

    # Evaluate: mIoU, per-class IoU, pixel accuracy and Dice on the test split; overlays in plots/.
    m = run.metrics
    say(f"test mIoU {m['miou']:.4f}, pixel accuracy {m['pixel_accuracy']:.4f}, Dice {m['dice']:.4f}")
    for name, iou in m["per_class_iou"].items():
        say(f"  IoU {name:<20} {'absent' if iou is None else f'{iou:.3f}'}")

    # Export: every format, each checked against the Keras model by pixel agreement and mIoU.
    report = run.export(formats)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
