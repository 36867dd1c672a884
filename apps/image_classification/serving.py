"""What an exported image classifier carries and how each file is checked against the Keras model."""

from __future__ import annotations

import numpy as np

from edgesuite.apps.image_classification import data as icdata
from edgesuite.apps.image_classification import postprocess as codec
from edgesuite.common.data import parity_draw
from edgesuite.common.task import Serving


class ImageClassificationServing(Serving):
    name = "image-classification"
    codec = codec

    def metadata(self, info: dict) -> dict:
        size, channels = info["image_size"], info["channels"]
        return {
            "task": self.name,
            "kind": "classifier",
            "class_names": info["class_names"],
            "input": {"name": "image", "shape": [size, size, channels], "dtype": "uint8"},
            "outputs": ["probabilities"],
            "preprocessing": f"{'grey (L)' if channels == 1 else 'RGB'}, bilinear resize to {size}x{size}, uint8",
            "normalization": "x / 255 inside the model",
            "data_name": info.get("data_name"),
        }

    def mediapipe_graph(self, model, metadata: dict):
        """A greyscale classifier for MediaPipe's ImageClassifier, which feeds 3 channels: RGB uint8 in, made grey
        inside the graph as edgesuite's prediction makes it (PIL's 'L': ITU-R 601-2 luma in 16-bit fixed point,
        rounded, so a grey pixel repeated in R, G and B stays itself), then the model. None for RGB classifiers,
        whose plain ``.tflite`` the Task takes as it is."""
        from types import SimpleNamespace

        import tensorflow as tf

        size, channels = metadata["input"]["shape"][0], metadata["input"]["shape"][2]
        if channels != 1:
            return None
        spec = tf.TensorSpec([1, size, size, 3], model.inputs[0].dtype, name=metadata["input"]["name"])

        def fn(image):
            r, g, b = tf.unstack(tf.cast(image, tf.int32), axis=-1)
            grey = (r * 19595 + g * 38470 + b * 7471 + 32768) // 65536
            return (model(tf.cast(grey[..., None], model.inputs[0].dtype), training=False),)

        return SimpleNamespace(
            signature=[spec], fn=fn, representative=lambda images: [np.repeat(np.asarray(images), 3, axis=-1)]
        )

    @staticmethod
    def _decode(images, info: dict) -> np.ndarray:
        ds = icdata.to_dataset(images, len(info["class_names"]), info["image_size"], info["channels"])
        return np.stack([im.numpy() for im, _ in ds]) if len(images) else np.zeros((0,), np.uint8)

    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        """One scan of the data (a folder's files are all decoded while checking) for both sets: training
        images for int8 calibration (a class-balanced draw fixed by the seed) and the parity inputs
        (``common.data.parity_draw``: the labelled held-out images first)."""
        splits = icdata.load_splits(cfg)
        train = splits.train.subset(np.random.default_rng(cfg.seed).permutation(len(splits.train))[:calibration])
        held, extra = parity_draw(splits, samples, cfg.seed)
        x = np.concatenate(
            [self._decode(part, info) for part in (held, *extra) if len(part)] or [np.zeros((0,), np.uint8)]
        )
        return self._decode(train, info), (x, held.labels)

    def parity_metric(self, outputs: np.ndarray, labels: np.ndarray, metadata: dict) -> tuple[str, float]:
        return "accuracy", float(np.mean(outputs.argmax(-1) == labels))


SERVING = ImageClassificationServing()
