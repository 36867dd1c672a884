"""The semantic-segmentation Task: what the driver, the CLI and the exporter call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgesuite.apps.segmentation import data as sdata
from edgesuite.apps.segmentation import model as smodel
from edgesuite.apps.segmentation.config import Config
from edgesuite.apps.segmentation.metrics import confusion, from_confusion
from edgesuite.apps.segmentation.postprocess import palette
from edgesuite.apps.segmentation.serving import SERVING
from edgesuite.common import autobackbone
from edgesuite.common import plots as cplots
from edgesuite.common.augment import build_augmenter
from edgesuite.common.data import held_out_pipeline, with_image_size
from edgesuite.common.stream import split_pipeline
from edgesuite.common.task import DataSplits, Task


class SegmentationTask(Task):
    name = "segmentation"
    Config = Config
    serving = SERVING
    monitor = ("val_miou", "max")
    from_data = {"image_size": 0, "backbone": "auto", "freeze_backbone": False}  # see Task.from_data

    # ---- data -------------------------------------------------------------
    def load_data(self, cfg: Config) -> DataSplits:
        # --backbone auto: a pretrained encoder for colour images of some size, else the model's own
        cfg = autobackbone.resolve(cfg, "auto", "the compact U-Net" if cfg.model == "unet" else "MobileNetV2")
        cfg = with_image_size(cfg)  # --image-size 0: from the images
        splits = sdata.load_splits(cfg)
        augmenter = build_augmenter(cfg.augment, "segmentation", (cfg.image_size, cfg.image_size), seed=cfg.seed)

        def augment(x, y):
            # geometric layers move image and mask together; masks go nearest-neighbour, colour skips them
            import tensorflow as tf

            out = augmenter({"images": x, "segmentation_masks": tf.cast(y[..., None], tf.float32)})
            return out["images"], _mask_after_augment(out["segmentation_masks"])

        def pipe(part, split: str):
            if part is None or len(part) == 0:
                return None
            return split_pipeline(
                sdata.columns(part),
                cfg,
                self.name,
                split,
                train=split == "train",
                augment=augment if augmenter else None,
            )

        k = len(splits.class_names)
        info = {
            "task": self.name,
            "class_names": splits.class_names,
            "image_size": cfg.image_size,
            "backbone": cfg.backbone,
            "freeze_backbone": cfg.freeze_backbone,
            "channels": 3,
            "ignore_index": cfg.ignore_index,
            "input_dtype": "uint8",
            "data_name": splits.data_name,
            "split_sizes": {
                n: (len(s) if s is not None else 0)
                for n, s in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            },
        }
        counts = splits.train.value_counts().sum(0)[:k]
        info["train_pixel_share"] = {
            n: round(float(c / max(counts.sum(), 1)), 5) for n, c in zip(splits.class_names, counts)
        }
        return DataSplits(
            train=pipe(splits.train, "train"),
            val=pipe(splits.val, "val"),
            test=pipe(splits.test, "test"),
            info=info,
            train_size=len(splits.train),
            extras={"val": splits.val},
        )

    def load_eval_data(self, cfg: Config, info: dict, data: str | None):
        return held_out_pipeline(sdata, cfg, info, data)

    # ---- model ------------------------------------------------------------
    def build_model(self, cfg: Config, info: dict):
        # what the data gave (--image-size 0, --backbone auto) is in info; the config may still hold the unset values
        fitted = {
            k: info[k] for k in ("backbone", "freeze_backbone") if k in info and getattr(cfg, k) == self.from_data[k]
        }
        return smodel.build(dataclasses.replace(cfg, image_size=info["image_size"], **fitted), len(info["class_names"]))

    def loss_and_metrics(self, cfg: Config, info: dict):
        import keras

        k = len(info["class_names"])
        loss = smodel.CrossEntropyDice(k, cfg.ignore_index, dice_weight=1.0 if cfg.loss == "ce+dice" else 0.0)
        miou = keras.metrics.MeanIoU(
            num_classes=k, ignore_class=cfg.ignore_index, sparse_y_true=True, sparse_y_pred=False, name="miou"
        )
        return loss, [miou]

    def fine_tune_epoch(self, cfg: Config) -> int | None:
        return (
            cfg.fine_tune_after if (cfg.encoder != "compact" and cfg.freeze_backbone and cfg.fine_tune_after) else None
        )

    def unfreeze(self, model) -> None:
        model.get_layer("backbone").trainable = True

    # ---- evaluation -------------------------------------------------------
    def evaluate(self, model, ds, info: dict) -> dict:
        k = len(info["class_names"])
        conf = np.zeros((k, k), np.int64)
        for x, y in ds:
            pred = np.asarray(model(x, training=False)).argmax(-1)
            conf += confusion(y.numpy(), pred, k, info.get("ignore_index", 255))
        return {**from_confusion(conf, info["class_names"]), "confusion_matrix": conf.tolist()}

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list[Path]:
        out = [cplots.training_curves(run.history_path, run.plots_dir / "training_curves.png")]
        val = data.extras.get("val")
        if val is not None and len(val):
            n = min(8, len(val))
            pred = np.asarray(model(val.images[:n], training=False)).argmax(-1)
            out.append(
                cplots.mask_grid(
                    val.images[:n],
                    val.masks[:n],
                    pred,
                    data.info["class_names"],
                    run.plots_dir / "val_predictions.png",
                    palette(),
                    data.info.get("ignore_index", 255),
                )
            )
            from edgesuite.apps.segmentation.inspector import explanation_plot

            try:  # what the model looked at; a model with no spatial layer to take Grad-CAM on has no such plot
                out.append(
                    explanation_plot(
                        model, val.images[:n], data.info["class_names"], run.plots_dir / "explanations.png"
                    )
                )
            except ValueError as exc:
                import logging

                logging.getLogger("edgesuite").warning("no explanations.png: %s", exc)
        if "confusion_matrix" in metrics:
            out.append(
                cplots.confusion_matrix(
                    metrics["confusion_matrix"], data.info["class_names"], run.plots_dir / "confusion_matrix.png"
                )
            )
        return out


def _mask_after_augment(masks):
    """Augmented (B, S, S, 1) float masks back to (B, S, S) uint8 class ids.

    Geometric layers resample masks nearest-neighbour, so no new value appears;
    pixels a zoom or shift brings in from beyond the border are filled with 0,
    the background, as the image there is filled with black.
    """
    import tensorflow as tf

    return tf.cast(tf.round(masks[..., 0]), tf.uint8)


TASK = SegmentationTask()
