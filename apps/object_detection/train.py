"""Object detection on your own boxed images, top to bottom as a keras-io example reads:
setup, data, model, train, evaluate, export.

    python apps/object_detection/train.py                                     # the embedded canvases
    python apps/object_detection/train.py --data shelf/ --image-size 256      # COCO, VOC or YOLO folder

--data takes a COCO (images/ + annotations.json), Pascal VOC or YOLO folder, optionally with train/
val/ test/ inside. This script runs the recipe below in one process; `edgesuite train
object-detection` runs the same recipe and adds --resume and multi-worker training.
"""

import sys

from edgesuite import api
from edgesuite.common.log import say

# Setup: the recipe's knobs, in view. Each number lives once, as the default in apps/object_detection/config.py
# (what `edgesuite train object-detection` runs), and the script prints them as it starts; a flag changes one
# (--lr 1e-3), and `--help` lists them all.
RECIPE = (
    "image_size",
    "width",  # an anchor-free one-stage detector; 0: the images' side
    "augment",  # flip, zoom, shift, colour: boxes move too
    "epochs",
    "time_budget",  # as many epochs as fit in the time budget (minutes), up to --epochs
    "batch_size",
    "optimizer",
    "lr",
    "weight_decay",
    "schedule",
    "score_threshold",
    "iou_threshold",
    "max_detections",  # NMS inside the exports
)


def main(argv=None) -> int:
    knobs, formats = api.script_arguments("object-detection", __doc__, RECIPE, argv)  # every knob as a flag
    task, cfg = api.prepare("object-detection", **knobs)

    # Data: every box is checked against its image (clipped or skipped and counted, or fatal with
    # --strict), images are stretched to the square input and their boxes with them.
    data = task.load_data(cfg)
    say(
        f"{data.train_size} training images at {data.info['image_size']} px, "
        f"classes: {', '.join(data.info['class_names'])}"
    )

    # Model: uint8 images in, per-point class scores and box distances out; the serving graphs decode
    # them and run NMS, so an exported file returns boxes, classes, scores and a count.
    model = task.build_model(cfg, data.info)
    heads = ", ".join(f"{out.name} {tuple(out.shape)}" for out in model.outputs)
    say(f"model: {model.count_params():,} parameters; raw outputs {heads}")

    # Train: the shared driver under the time budget (the cosine schedule stretched over the epochs
    # that fit), the best epoch by validation mAP@0.5.
    run = api.fit(task, cfg, data)

    # Evaluate: COCO mAP@0.5 and mAP@[.5:.95] on the test split; precision-recall curves in plots/.
    m = run.metrics
    say(f"test mAP@0.5 {m['map50']:.4f}, mAP@[.5:.95] {m['map50_95']:.4f}, AR@100 {m['recall']:.4f}")
    by_ap = sorted(m["per_class"].items(), key=lambda kv: kv[1]["ap50"])
    say("AP@0.5 by class, lowest first: " + ", ".join(f"{n} {c['ap50']:.3f}" for n, c in by_ap))

    # Export: every format, each checked against the Keras model by the detections it finds again.
    report = run.export(formats)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
