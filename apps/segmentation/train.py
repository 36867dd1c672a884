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

# Setup: the recipe, as `edgesuite train segmentation` has it by default.
RECIPE = {
    "model": "unet", "width": 1.0, "image_size": 0,           # a light LinkNet-style U-Net; 0: the images' side (canvases: 64 px)
    "loss": "ce",                                              # cross-entropy; "ce+dice" lifts thin classes
    "augment": "default",                                      # flip, zoom, shift, colour: masks move too
    "epochs": 18, "time_budget": 20.0,                         # as many epochs as fit in 20 minutes (18 without a budget)
    "early_stopping": 6, "batch_size": 32,
    "optimizer": "adamw", "lr": 3e-3, "schedule": "warmup_cosine",
}


def main(argv=None) -> int:
    knobs, formats = api.script_arguments("segmentation", __doc__, RECIPE, argv)  # any other knob as a flag too
    task, cfg = api.prepare("segmentation", **knobs)

    # Data: each image/mask pair is checked (sizes agree, values are class ids or the ignore index) and
    # resized, the image bilinear and the mask nearest-neighbour, so no new class value appears.
    data = task.load_data(cfg)
    print(f"{data.train_size} training pairs at {data.info['image_size']} px; mask value -> class:")
    print("  " + ", ".join(f"{value} {name}" for value, name in enumerate(data.info["class_names"])))

    # Model: uint8 images in, per-pixel class probabilities out (a uint8 class map beside them in the
    # serving graphs); normalisation is inside, so exports carry it.
    model = task.build_model(cfg, data.info)
    print(f"model: {cfg.model}, {model.count_params():,} parameters, {model.input_shape} -> {model.output_shape}")

    # Train: the shared driver; the best epoch by validation mIoU, early stopping after 6 without gain.
    run = api.fit(task, cfg, data)

    # Evaluate: mIoU, per-class IoU, pixel accuracy and Dice on the test split; overlays in plots/.
    m = run.metrics
    print(f"test mIoU {m['miou']:.4f}, pixel accuracy {m['pixel_accuracy']:.4f}, Dice {m['dice']:.4f}")
    for name, iou in m["per_class_iou"].items():
        print(f"  IoU {name:<20} {'absent' if iou is None else f'{iou:.3f}'}")

    # Export: every format, each checked against the Keras model by pixel agreement and mIoU.
    report = run.export(formats)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
