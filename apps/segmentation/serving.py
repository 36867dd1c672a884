"""What an exported segmenter carries (a uint8 class map beside the probabilities) and how it is checked."""

from __future__ import annotations

import numpy as np

from edgesuite.apps.segmentation import data as sdata
from edgesuite.apps.segmentation import postprocess as codec
from edgesuite.apps.segmentation.metrics import segmentation_metrics
from edgesuite.common.data import parity_draw
from edgesuite.common.task import Serving


class SegmentationServing(Serving):
    name = "segmentation"
    codec = codec

    def metadata(self, info: dict) -> dict:
        size = info["image_size"]
        return {
            "task": self.name,
            "kind": "segmenter",
            "class_names": info["class_names"],
            "ignore_index": info.get("ignore_index", 255),
            "input": {"name": "image", "shape": [size, size, 3], "dtype": "uint8"},
            "outputs": ["probabilities"],
            "output_shape": [size, size, len(info["class_names"])],
            "serving_outputs": {
                "class_map": f"uint8 [N, {size}, {size}], the argmax of probabilities "
                "(SavedModel, TFLite and ONNX carry it)"
            },
            "preprocessing": f"RGB, bilinear resize to {size}x{size}, uint8",
            "normalization": "inside the model",
            "postprocessing": "argmax over the last axis gives the class map",
            "data_name": info.get("data_name"),
        }

    def serving_outputs(self, outputs: dict, metadata: dict) -> dict:
        """Adds ``class_map``: the per-pixel argmax as uint8 (N, S, S), ready to use on the device."""
        import tensorflow as tf

        return {**outputs, "class_map": tf.cast(tf.argmax(outputs["probabilities"], axis=-1), tf.uint8)}

    def coreml_outputs(self, outputs: dict, metadata: dict) -> dict:
        """The probabilities and the class map (int32: Core ML outputs hold no uint8)."""
        import tensorflow as tf

        return {**outputs, "class_map": tf.cast(tf.argmax(outputs["probabilities"], axis=-1), tf.int32)}

    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        """Real training images for int8 calibration; the parity images (``common.data.parity_draw``: the held-out
        images and their masks first, topped up from the other splits)."""
        splits = sdata.load_splits(cfg)
        pick = np.random.default_rng(cfg.seed).permutation(len(splits.train))[:calibration]
        held, extra = parity_draw(splits, samples, cfg.seed)
        images = [part.images[:] for part in (held, *extra) if len(part)]  # decoded, if streamed from files
        return splits.train.images[np.sort(pick)], (np.concatenate(images), held.masks[:])

    def parity_metric(self, outputs: np.ndarray, labels: np.ndarray, metadata: dict) -> tuple[str, float]:
        names = [str(i) for i in range(outputs.shape[-1])]
        return "miou", segmentation_metrics(labels, outputs.argmax(-1), names)["miou"]


SERVING = SegmentationServing()
