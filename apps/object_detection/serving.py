"""What an exported detector carries (NMS inside the graph where the format allows) and how it is checked."""

from __future__ import annotations

import numpy as np

from edgesuite.apps.object_detection import data as ddata
from edgesuite.apps.object_detection import model as dmodel
from edgesuite.apps.object_detection import postprocess as codec
from edgesuite.apps.object_detection.metrics import detection_metrics
from edgesuite.apps.object_detection.postprocess import detections, iou_matrix
from edgesuite.common.data import parity_draw
from edgesuite.common.task import Serving

POSTPROCESS_SCOPE = "edgesuite_postprocess"  # the ops a full-integer file keeps in float


class ObjectDetectionServing(Serving):
    name = "object-detection"
    codec = codec

    def metadata(self, info: dict) -> dict:
        size, k = info["image_size"], len(info["class_names"])
        post = info["postprocessing_params"]  # the run's thresholds, fixed at training time
        cells = (size // dmodel.STRIDE) ** 2
        d = post["max_detections"]
        return {
            "task": self.name,
            "kind": "detector",
            "class_names": info["class_names"],
            "input": {"name": "image", "shape": [size, size, 3], "dtype": "uint8"},
            "outputs": ["predictions"],
            "output_shape": [cells, 5 + k],
            "serving_outputs": {
                "boxes": f"float32 [N, {d}, 4] xyxy as a share of the image side",
                "scores": f"float32 [N, {d}]",
                "classes": f"int32 [N, {d}] class ids",
                "num_detections": "int32 [N], valid rows of boxes/scores/classes (the rest are 0)",
            },
            "nms_inside": ["savedmodel", "tflite", "tflite-fp16", "tflite-dynamic", "tflite-int8", "onnx"],
            "postprocessing_params": post,
            "preprocessing": f"RGB, bilinear resize (stretch) to {size}x{size}, uint8",
            "normalization": "inside the model",
            "postprocessing": "predictions: per grid point l, t, r, b distances (share of the side), K class "
            "probabilities, centre-ness; score = sqrt(max prob x centre-ness); class-aware NMS",
            "data_name": info.get("data_name"),
        }

    def serving_outputs(self, outputs: dict, metadata: dict) -> dict:
        """Adds NMS: boxes, scores, classes and a valid count per image (fixed size), builtin TFLite ops."""
        post = metadata["postprocessing_params"]
        return {
            **outputs,
            **dmodel.detect(
                outputs["predictions"],
                metadata["input"]["shape"][0],
                len(metadata["class_names"]),
                post,
            ),
        }

    def coreml_outputs(self, outputs: dict, metadata: dict) -> dict:
        """Per grid point the class scores (``sqrt(p_class x centre-ness)``, as in NMS here) and the box as Vision
        reads it (centre x, centre y, width, height, shares of the side); the pipeline's NMS does the rest."""
        import tensorflow as tf

        p, k = outputs["predictions"][0], len(metadata["class_names"])
        x0, y0, x1, y1 = tf.unstack(dmodel.decode_boxes(p[None], metadata["input"]["shape"][0])[0], axis=-1)
        return {
            "confidence": tf.sqrt(p[:, 4 : 4 + k] * p[:, 4 + k : 5 + k]),
            "coordinates": tf.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], axis=-1),
        }

    def mediapipe_graph(self, model, metadata: dict):
        """MediaPipe's ObjectDetector reads a detector with NMS inside as four float32 outputs, in this order:
        location (1, D, 4) as [ymin, xmin, ymax, xmax] shares of the side, category (1, D) class ids, score
        (1, D), number of detections (1,); one image per call."""
        from types import SimpleNamespace

        import tensorflow as tf

        size, post = metadata["input"]["shape"][0], metadata["postprocessing_params"]
        spec = tf.TensorSpec([1, size, size, 3], model.inputs[0].dtype, name=metadata["input"]["name"])

        def fn(image):
            predictions = model(image, training=False)
            with tf.name_scope(POSTPROCESS_SCOPE):
                found = dmodel.detect(
                    predictions,
                    size,
                    len(metadata["class_names"]),
                    post,
                )
                return (
                    tf.gather(found["boxes"], [1, 0, 3, 2], axis=-1),
                    tf.cast(found["classes"], tf.float32),
                    found["scores"],
                    tf.cast(found["num_detections"], tf.float32),
                )

        # the decoding and NMS stay float in the int8 file: quantized, they moved boxes by pixels
        return SimpleNamespace(
            signature=[spec], fn=fn, representative=lambda images: [np.asarray(images)], float_scope=POSTPROCESS_SCOPE
        )

    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        """Real training images for int8 calibration; the parity images (``common.data.parity_draw``: the held-out
        images and their boxes first, topped up from the other splits)."""
        splits = ddata.load_splits(cfg)
        pick = np.random.default_rng(cfg.seed).permutation(len(splits.train))[:calibration]
        held, extra = parity_draw(splits, samples, cfg.seed)
        images = [part.images[:] for part in (held, *extra) if len(part)]  # decoded, if streamed from files
        return splits.train.images[np.sort(pick)], (np.concatenate(images), held.ground_truth())

    def parity_metric(self, outputs: np.ndarray, labels: list[dict], metadata: dict) -> tuple[str, float]:
        size = metadata["input"]["shape"][0]
        preds = [{**d, "boxes": d["boxes"] * size} for d in detections(outputs, metadata)]
        return "map50", detection_metrics(preds, labels, metadata["class_names"])["map50"]

    def parity_agreement(self, reference: np.ndarray, outputs: np.ndarray, metadata: dict, step: float = 0.0) -> dict:
        """Of the Keras model's detections (score >= 0.3), those the format finds too: same class, IoU >= 0.5.

        A detection the format misses is borderline, and counted neither way, when the format has a box of its
        class within what one output ``step`` can make up: the edges of a quantized file's boxes lie on a grid of
        that step (shares of the side), and moving each edge of a small box by one step costs it IoU (a 38 px box
        at 256 px: 0.10), so IoU 0.5 - (1 - IoU(box, box moved in by a step on every edge)) is enough. The same
        rule as the classifier's classes within a step (``verify.top1_agreement``); 0 for float outputs."""
        found = total = borderline = 0
        for ref, got in zip(detections(reference, metadata), detections(outputs, metadata)):
            keep = ref["scores"] >= 0.3
            boxes = ref["boxes"][keep]
            total += len(boxes)
            if not len(boxes) or not len(got["boxes"]):
                continue
            same = ref["classes"][keep][:, None] == got["classes"][None, :]
            best = np.where(same, iou_matrix(boxes, got["boxes"]), 0.0).max(axis=1)
            hit = best >= 0.5
            w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            kept = np.clip(w - 2 * step, 0, None) * np.clip(h - 2 * step, 0, None) / np.maximum(w * h, 1e-12)
            found += int(hit.sum())
            borderline += int((~hit & (best >= 0.5 - (1.0 - kept)) & (step > 0)).sum())
        compared = total - borderline
        return {
            "agreement": found / compared if compared else 1.0,
            "agree": found,
            "compared": compared,
            "borderline": borderline,
        }


SERVING = ObjectDetectionServing()
