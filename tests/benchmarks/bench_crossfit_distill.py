"""Would cross-fitted (out-of-fold) teachers teach better? An experiment on the embedded Fashion-MNIST subset,
run before building them into ``--teacher``.

    python tests/benchmarks/bench_crossfit_distill.py [--folds 5] [--seeds 1 2 3] [--epochs 30] [--work DIR]

Teachers that have seen a training image score it at ~0.99 (they fit their training split), so their soft
targets on the student's batches say little the labels do not. Here the training split (the subset's, split
seed 42) is cut into ``--folds`` folds; teacher F is the default recipe for 30 epochs without label smoothing
(the better teachers, RESULTS.md), trained on every fold but F. Each training image then gets the probabilities
of the one teacher that never saw it (offline, on the plain image), packed into its targets as
``[labels | soft targets]`` before batching and augmentation, and the student (``--width 0.25``, 30 epochs,
``--tta none``, alpha 0.5, T 1) learns through ``common.distill.DistillationLoss`` as ``--teacher`` students do.
The driver's online teacher path is bypassed for this (its three hooks are replaced in this process only).
Printed: each teacher's test accuracy, how often the out-of-fold targets agree with the labels and their mean
top probability, and each student's test accuracy; compare with the same student alone (RESULTS.md, eleventh
session: 0.8820, 0.8765, 0.8760 at seeds 1-3).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import numpy as np

FOLD_SEED = 4242


def folds_of(n: int, k: int) -> np.ndarray:
    return np.random.default_rng(FOLD_SEED).permutation(n) % k


def train_teacher(fold: int, k: int, out: Path, epochs: int) -> float:
    from edgesuite import api
    from edgesuite.apps.image_classification import data as icdata

    load_splits = icdata.load_splits

    def without_fold(cfg):
        splits = load_splits(cfg)
        keep = np.flatnonzero(folds_of(len(splits.train), k) != fold)
        return dataclasses.replace(splits, train=splits.train.subset(keep))

    icdata.load_splits = without_fold
    try:
        task, cfg = api.prepare(
            "image-classification",
            seed=1000 + fold,
            split_seed=42,
            epochs=epochs,
            label_smoothing=0.0,
            out=str(out),
            name=f"fold{fold}of{k}",
        )
        return api.fit(task, cfg).metrics["accuracy"]
    finally:
        icdata.load_splits = load_splits


def train_student(seed: int, k: int, out: Path, epochs: int) -> tuple[float, float, float]:
    import keras
    import tensorflow as tf

    from edgesuite import api
    from edgesuite.apps.image_classification import data as icdata
    from edgesuite.common import distill
    from edgesuite.common.augment import build_augmenter
    from edgesuite.common.data import batch_pipeline

    task, cfg = api.prepare(
        "image-classification",
        seed=seed,
        split_seed=42,
        width=0.25,
        epochs=epochs,
        tta="none",
        augment="flip,erase",
        teacher="out-of-fold",
        out=str(out),
        name=f"student-s{seed}",
    )
    data = task.load_data(dataclasses.replace(cfg, teacher=""))
    train = icdata.load_splits(cfg).train
    fold = folds_of(len(train), k)
    soft = np.zeros((len(train), len(data.info["class_names"])), np.float32)
    for f in range(k):
        teacher = keras.models.load_model(out / "image-classification" / f"fold{f}of{k}" / "model.keras", compile=False)
        idx = np.flatnonzero(fold == f)
        soft[idx] = teacher.predict(train.arrays[idx], batch_size=500, verbose=0)
    labels = np.eye(soft.shape[1], dtype=np.float32)[train.labels]
    augmenter = build_augmenter(cfg.augment, "classification", (28, 28), seed=cfg.seed)

    def augment(x, y):
        out_ = augmenter({"images": x, "labels": y})
        return out_["images"], out_["labels"]

    ds = tf.data.Dataset.from_tensor_slices((train.arrays, np.concatenate([labels, soft], axis=1)))
    data = dataclasses.replace(
        data, train=batch_pipeline(ds, cfg.batch_size, shuffle=True, seed=cfg.seed, augment=augment)
    )
    hooks = distill.load_teachers, distill.with_teacher_targets, distill.ensemble_metrics
    distill.load_teachers = lambda *_, **__: [distill.Teacher(Path("out-of-fold"), None, {})]
    distill.with_teacher_targets = lambda _task, batches, *_, **__: batches  # the targets are packed already
    distill.ensemble_metrics = lambda *_, **__: {
        "runs": ["out-of-fold"],
        "accuracy": float("nan"),
        "macro_f1": float("nan"),
    }
    try:
        accuracy = api.fit(task, cfg, data).metrics["accuracy"]
    finally:
        distill.load_teachers, distill.with_teacher_targets, distill.ensemble_metrics = hooks
    return accuracy, float((soft.argmax(1) == train.labels).mean()), float(soft.max(1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--epochs", type=int, default=30, help="of the teachers and the students")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-crossfit-"))
    teachers = [train_teacher(f, args.folds, out, args.epochs) for f in range(args.folds)]
    rows = [(s, *train_student(s, args.folds, out, args.epochs)) for s in args.seeds]
    print(
        f"teachers (each without one of {args.folds} folds), test accuracy: " + ", ".join(f"{a:.4f}" for a in teachers)
    )
    print(f"out-of-fold targets: agree with the labels on {rows[0][2]:.3f}, mean top probability {rows[0][3]:.3f}")
    print("| seed | student, out-of-fold distilled |\n| --- | --- |")
    for seed, accuracy, _, _ in rows:
        print(f"| {seed} | {accuracy:.4f} |")
    print(json.dumps({"teachers": teachers, "students": {s: a for s, a, _, _ in rows}}))


if __name__ == "__main__":
    main()
