"""Image classification on your own images, top to bottom as a keras-io example reads:
setup, data, model, train, evaluate, export.

    python apps/image_classification/train.py                              # the embedded Fashion-MNIST subset
    python apps/image_classification/train.py --data photos/ --epochs 20   # photos/<class>/<image>

--data takes a folder of class sub-folders (jpg, png, bmp, gif), a CSV of path,label rows or a named
set. This script runs the recipe below in one process; `edgesuite train image-classification` runs
the same recipe and adds --resume after a crash, --time-budget and multi-worker training.
"""

import sys

from edgesuite import api
from edgesuite.common.log import say

# Setup: the recipe's knobs, in view. Each number lives once, as the default in apps/image_classification/config.py
# (what `edgesuite train image-classification` runs), and the script prints them as it starts; a flag changes one
# (--lr 1e-3), and `--help` lists them all.
RECIPE = (
    "model",
    "weights",  # photos: EfficientNet-Lite0 from ImageNet; grey or small: a compact CNN
    "image_size",
    "width",
    "dropout",  # 0: at the images' own size
    "augment",  # from the data: flips + erasing if the classes keep their class mirrored, else shifts
    "tta",  # then the saved CNN averages the image and its mirror image
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "schedule",
    "weight_decay",
    "label_smoothing",
)


def main(argv=None) -> int:
    knobs, formats = api.script_arguments("image-classification", __doc__, RECIPE, argv)  # every knob as a flag
    task, cfg = api.prepare("image-classification", **knobs)

    # Data: every file is decoded once up front (a bad one is named, and skipped unless --strict), the
    # splits are stratified by the seed, and tf.data decodes, resizes and augments batches while training.
    data = task.load_data(cfg)
    say(f"{data.train_size} training images, {data.info['channels']} channel(s) at {data.info['image_size']} px:")
    for name, count in zip(data.info["class_names"], data.class_counts):
        say(f"  {count:>6}  {name}")

    # Model: uint8 images in, class probabilities out; resizing and the x / 255 scaling are layers inside,
    # so every exported file takes the same uint8 images. The driver builds it again under the run's
    # precision policy and distribution strategy.
    task.build_model(cfg, data.info).summary(line_length=96)

    # Train: the shared driver (precision policy, AdamW + warm-up cosine, best epoch by val accuracy).
    run = api.fit(task, cfg, data)

    # Evaluate: the held-out test split; the confusion matrix and curves are in run.path / "plots".
    m = run.metrics
    hardest = sorted(m["per_class"].items(), key=lambda kv: kv[1]["f1"])[:3]
    say(f"test accuracy {m['accuracy']:.4f}, macro F1 {m['macro_f1']:.4f} -> {run.path}")
    say("hardest classes: " + ", ".join(f"{name} (F1 {c['f1']:.3f})" for name, c in hardest))

    # Export: SavedModel, .keras, .h5, TFLite (float, fp16, dynamic, int8), Core ML and ONNX, each file
    # loaded back and compared with the Keras model (export/export_report.md).
    report = run.export(formats)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
