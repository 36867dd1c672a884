"""The object-detection Task: what the driver, the CLI and the exporter call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgesuite.apps.object_detection import data as ddata
from edgesuite.apps.object_detection import model as dmodel
from edgesuite.apps.object_detection.config import Config
from edgesuite.apps.object_detection.metrics import RECALL_POINTS, detection_metrics
from edgesuite.apps.object_detection.postprocess import CANDIDATES_PER_DETECTION, detections
from edgesuite.apps.object_detection.serving import SERVING
from edgesuite.common import autobackbone
from edgesuite.common import plots as cplots
from edgesuite.common.augment import build_augmenter
from edgesuite.common.data import held_out_pipeline, with_image_size
from edgesuite.common.log import say
from edgesuite.common.stream import split_pipeline
from edgesuite.common.task import DataSplits, Task


class ObjectDetectionTask(Task):
    name = "object-detection"
    Config = Config
    serving = SERVING
    # the best epoch, early stopping and --time-budget's checks follow the metric users judge, not the loss
    monitor = ("val_map50", "max")
    from_data = {"image_size": 0, "backbone": "auto", "freeze_backbone": False}  # see Task.from_data
    VAL_MAP_IMAGES = 1000  # each epoch's mAP is over at most this many validation images

    # ---- data -------------------------------------------------------------
    def load_data(self, cfg: Config) -> DataSplits:
        cfg = autobackbone.resolve(cfg, "vgg", "vgg")  # --backbone auto: pretrained for colour images of some size
        cfg = with_image_size(cfg)  # --image-size 0: from the images
        splits = ddata.load_splits(cfg)
        augmenter = build_augmenter(
            cfg.augment,
            "detection",
            (cfg.image_size, cfg.image_size),
            seed=cfg.seed,
            min_box_visibility=cfg.min_visible,
        )

        def augment(x, y):
            # geometric layers move the boxes with the pixels and clip them; mostly hidden boxes get label -1
            import tensorflow as tf

            out = augmenter({"images": x, "bounding_boxes": {"boxes": y[..., :4], "labels": y[..., 4]}})
            boxes = out["bounding_boxes"]
            return out["images"], tf.concat([boxes["boxes"], tf.cast(boxes["labels"], tf.float32)[..., None]], -1)

        def pipe(part, split: str):
            if part is None or len(part) == 0:
                return None
            return split_pipeline(
                ddata.columns(part),
                cfg,
                self.name,
                split,
                train=split == "train",
                augment=augment if augmenter else None,
            )

        train = splits.train
        counts = np.bincount(train.classes[(train.classes >= 0) & ~train.difficult], minlength=len(splits.class_names))
        info = {
            "task": self.name,
            "class_names": splits.class_names,
            "image_size": cfg.image_size,
            "backbone": cfg.backbone,
            "freeze_backbone": cfg.freeze_backbone,
            "channels": 3,
            "input_dtype": "uint8",
            "data_name": splits.data_name,
            "split_sizes": {
                n: (len(s) if s is not None else 0)
                for n, s in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            },
            "train_boxes": {n: int(c) for n, c in zip(splits.class_names, counts)},
            "postprocessing_params": {
                "max_detections": cfg.max_detections,
                "score_threshold": cfg.score_threshold,
                "iou_threshold": cfg.iou_threshold,
                "candidates_per_detection": CANDIDATES_PER_DETECTION,
                "stride": dmodel.STRIDE,
            },
        }
        return DataSplits(
            train=pipe(splits.train, "train"),
            val=pipe(splits.val, "val"),
            test=pipe(splits.test, "test"),
            info=info,
            train_size=len(splits.train),
            class_counts=counts.tolist(),
            extras={"val": splits.val},
        )

    def load_eval_data(self, cfg: Config, info: dict, data: str | None):
        return held_out_pipeline(ddata, cfg, info, data)

    # ---- model ------------------------------------------------------------
    def build_model(self, cfg: Config, info: dict):
        # what the data gave (--image-size 0, --backbone auto) is in info; the config may still hold the unset values
        fitted = {
            k: info[k] for k in ("backbone", "freeze_backbone") if k in info and getattr(cfg, k) == self.from_data[k]
        }
        cfg = dataclasses.replace(cfg, image_size=info["image_size"], **fitted)
        if cfg.backbone == "auto":  # a run from before the knob had the vgg default
            cfg = dataclasses.replace(cfg, backbone="vgg")
        return dmodel.build(cfg, len(info["class_names"]))

    def loss_and_metrics(self, cfg: Config, info: dict):
        return dmodel.DetectionLoss(len(info["class_names"]), info["image_size"]), []

    def fine_tune_epoch(self, cfg: Config) -> int | None:
        return cfg.fine_tune_after if (cfg.backbone != "vgg" and cfg.freeze_backbone and cfg.fine_tune_after) else None

    def unfreeze(self, model) -> None:
        model.get_layer("backbone").trainable = True

    def epoch_callbacks(self, cfg: Config, data: DataSplits) -> list:
        """``val_map50`` in each epoch's logs: mAP@0.5 on the validation split (its first 1,000 images)."""
        import math

        import keras

        if data.val is None:
            return []
        task, batches = self, math.ceil(self.VAL_MAP_IMAGES / cfg.batch_size)

        class ValidationMAP(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                preds, truths = task._detect(self.model, data.val.take(batches), data.info)
                value = detection_metrics(preds, truths, data.info["class_names"])["map50"]
                if logs is not None:
                    logs["val_map50"] = value
                say(f"epoch {epoch + 1}: val_map50 {value:.4f} ({len(truths)} validation images)")

        return [ValidationMAP()]

    # ---- evaluation -------------------------------------------------------
    def _detect(self, model, ds, info: dict):
        """All images of ``ds`` through the model: (detections in pixels, truths, images)."""
        metadata = self.serving.metadata(info)
        size = info["image_size"]
        preds, truths = [], []
        for x, y in ds:
            for det in detections(np.asarray(model(x, training=False)), metadata):
                preds.append({**det, "boxes": det["boxes"] * size})
            truths.extend(ddata.decode_truth(y.numpy()))
        return preds, truths

    def evaluate(self, model, ds, info: dict) -> dict:
        preds, truths = self._detect(model, ds, info)
        return {**detection_metrics(preds, truths, info["class_names"]), "images": len(truths)}

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list[Path]:
        out = [cplots.training_curves(run.history_path, run.plots_dir / "training_curves.png")]
        val = data.extras.get("val")
        if val is not None and len(val):
            n = min(8, len(val))
            metadata = self.serving.metadata(data.info)
            preds = [
                {**d, "boxes": d["boxes"] * data.info["image_size"]}
                for d in detections(np.asarray(model(val.images[:n], training=False)), metadata)
            ]
            out.append(
                cplots.box_grid(
                    val.images[:n],
                    val.subset(range(n)).ground_truth(),
                    preds,
                    data.info["class_names"],
                    run.plots_dir / "val_predictions.png",
                )
            )
        if metrics.get("pr_curve_50"):
            out.append(
                cplots.pr_curves(
                    metrics["pr_curve_50"],
                    RECALL_POINTS,
                    run.plots_dir / "pr_curves.png",
                    f"precision-recall at IoU 0.5 (mAP@0.5 {metrics['map50']:.3f})",
                )
            )
        return out


TASK = ObjectDetectionTask()
