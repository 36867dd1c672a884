"""Decoding and NMS of detector outputs: numpy and Pillow only, importable without TensorFlow.

The same algorithm as the serving graph's (``model.detect``), for the formats
that cannot hold NMS (``.keras``, ``.h5``, Core ML) and for ``edgesuite.load``
on a board with only numpy and LiteRT: for each image, every grid point's box
``(cx - l, cy - t, cx + r, cy + b)`` clipped to [0, 1] and, per class, its score
``sqrt(class probability x centre-ness)``; the best :func:`candidate_count` (10 x ``max_detections``)
(point, class) pairs scoring above ``score_threshold`` go through greedy per-class NMS (a box is
dropped when its IoU with a better one of its class exceeds ``iou_threshold``;
ties keep the lower index, as TensorFlow's kernel does); the best
``max_detections`` are kept. Boxes are ``xyxy`` as a share of the image side
(``boxes``) and in the input image's pixels when its size is known (``boxes_px``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesuite.common.decode import open_source, read_images, save_png, source_size

STRIDE = 4  # the head's stride (model.STRIDE); kept here so this module needs no Keras
# (point, class) pairs ranked into NMS per detection returned, written into each new run's postprocessing_params.
# A stride-4 head scores an object high at many neighbouring points, so 4 per detection (runs before it) let the
# strongest objects fill the list and NMS kept 37 boxes of 50 on images of 20 to 61 tree crowns; FCOS ranks 1,000
# per level before NMS, 10 x COCO's 100 detections.
CANDIDATES_PER_DETECTION = 10


def preprocess(inputs, metadata: dict, input_dtype: str | None = None) -> np.ndarray:
    """Image files or arrays -> (N, S, S, 3) uint8 at the trained size (RGB, bilinear, stretched)."""
    return read_images(inputs, metadata["input"]["shape"][0], 3)


def decode(predictions: np.ndarray, image_size: int, num_classes: int):
    """(N, L, 5 + K) -> boxes (N, L, 4) in [0, 1] and scores (N, L, K) = sqrt(class probability x centre-ness)."""
    g = image_size // STRIDE
    c = (np.arange(g, dtype=np.float32) + 0.5) / g
    cy, cx = (a.ravel() for a in np.meshgrid(c, c, indexing="ij"))
    p = np.asarray(predictions, np.float32)
    d = p[..., :4]
    boxes = np.clip(np.stack([cx - d[..., 0], cy - d[..., 1], cx + d[..., 2], cy + d[..., 3]], -1), 0.0, 1.0)
    return boxes, np.sqrt(p[..., 4 : 4 + num_classes] * p[..., 4 + num_classes : 5 + num_classes])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (n, 4) with every one in ``b`` (m, 4); empty boxes have IoU 0."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where((area_a[:, None] > 0) & (area_b[None, :] > 0), inter / np.maximum(union, 1e-12), 0.0)


def candidate_count(post: dict, points: int, num_classes: int) -> int:
    """How many (point, class) pairs of an image go into NMS: the run's ``candidates_per_detection`` (4 for runs
    that predate it) x ``max_detections``, at most all of them. The serving graph, numpy and the web page use it."""
    per = post.get("candidates_per_detection", 4)
    return min(points * num_classes, per * post["max_detections"])


def candidates(scores: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``count`` (point, class) pairs of one image's (L, K) scores, best first (ties: lower index, as
    tf.math.top_k)."""
    flat = scores.ravel()
    top = np.argsort(-flat, kind="stable")[:count]
    return top // scores.shape[1], top % scores.shape[1]


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    iou_threshold: float,
    score_threshold: float,
    max_detections: int,
) -> np.ndarray:
    """Indices kept by greedy class-aware NMS, best score first. Each kept box's IoU (as :func:`iou_matrix` computes
    it) is taken with the boxes ranked after it only: at most ``max_detections`` rows, not the whole candidates x
    candidates matrix, which took 42 ms an image for the 1,000 candidates of an untrained head."""
    order = np.flatnonzero(scores > score_threshold)
    order = order[np.argsort(-scores[order], kind="stable")]
    x1, y1, x2, y2 = np.asarray(boxes, np.float64)[order].T
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    cls = classes[order]
    keep = []
    alive = np.ones(len(order), bool)
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(order[i])
        if len(keep) == max_detections:
            break
        j = slice(i + 1, None)
        iw = np.clip(np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]), 0, None)
        inter = iw * ih
        iou = np.where((area[i] > 0) & (area[j] > 0), inter / np.maximum(area[i] + area[j] - inter, 1e-12), 0.0)
        alive[j] &= ~((iou > iou_threshold) & (cls[j] == cls[i]))
    return np.asarray(keep, np.int64)


def detections(predictions, metadata: dict) -> list[dict]:
    """Per image: boxes (k, 4) in [0, 1], scores (k,), classes (k,) after NMS."""
    post = metadata["postprocessing_params"]
    k = len(metadata["class_names"])
    boxes, scores = decode(predictions, metadata["input"]["shape"][0], k)
    out = []
    for b, s in zip(boxes, scores):
        point, cls = candidates(s, candidate_count(post, s.shape[0], k))
        b, s = b[point], s[point, cls]
        keep = nms(b, s, cls, post["iou_threshold"], post["score_threshold"], post["max_detections"])
        out.append({"boxes": b[keep], "scores": s[keep], "classes": cls[keep].astype(np.int64)})
    return out


def postprocess(predictions, metadata: dict) -> list[dict]:
    """(N, L, 5 + K) head outputs -> per image a list of objects: label, class id, score, box."""
    names = metadata["class_names"]
    results = []
    for det in detections(predictions, metadata):
        objects = [
            {"label": names[int(c)], "class_id": int(c), "score": float(s), "box": [round(float(v), 5) for v in b]}
            for b, s, c in zip(det["boxes"], det["scores"], det["classes"])
        ]
        results.append({"objects": objects, "count": len(objects)})
    return results


def with_pixels(result: dict, width: int, height: int) -> dict:
    """Adds ``box_px`` (xyxy in the input image's own pixels) to every object."""
    scale = np.array([width, height, width, height], np.float64)
    for obj in result["objects"]:
        obj["box_px"] = [round(float(v), 1) for v in np.asarray(obj["box"]) * scale]
    return result


def describe(result: dict, min_score: float = 0.3) -> str:
    shown = [o for o in result["objects"] if o["score"] >= min_score]
    key = "box_px" if shown and "box_px" in shown[0] else "box"
    parts = [f"{o['label']} {o['score']:.2f} [{', '.join(f'{v:g}' for v in o[key])}]" for o in shown[:10]]
    saved = f" -> {result['image_file']}" if "image_file" in result else ""
    found = "; ".join(parts) if parts else "nothing"
    return f"{result.get('input', '')}: {found} ({len(shown)} of {result['count']} scoring >= {min_score}){saved}"


def example_input(metadata: dict) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (1, *metadata["input"]["shape"]), dtype=np.uint8)


def colours(n: int) -> list[tuple[int, int, int]]:
    import colorsys

    return [tuple(int(255 * v) for v in colorsys.hsv_to_rgb(i / max(n, 1), 0.85, 1.0)) for i in range(n)]


def draw(image, objects: list[dict], class_names: list[str], min_score: float = 0.3, key: str = "box"):
    """A PIL image with each object's box and 'label score' drawn; boxes as a share of the side."""
    from PIL import Image, ImageDraw

    image = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    image = image.convert("RGB")
    pen = ImageDraw.Draw(image)
    palette = colours(len(class_names))
    w, h = image.size
    for o in objects:
        if o.get("score", 1.0) < min_score:
            continue
        x1, y1, x2, y2 = np.asarray(o[key], np.float64) * [w, h, w, h]
        colour = palette[o["class_id"] % len(palette)]
        pen.rectangle([x1, y1, max(x2 - 1, x1), max(y2 - 1, y1)], outline=colour, width=max(1, w // 160))
        pen.text((x1 + 2, y1 + 1), f"{o['label']} {o['score']:.2f}" if "score" in o else o["label"], fill=colour)
    return image


def save(result: dict, source, save_dir, metadata: dict, stem: str | None = None) -> dict:
    """Writes ``<stem>_boxes.png``: the input image at its own size with the detections drawn; ``stem``: the
    name the caller gave this input (``decode.output_stems``: unique among the inputs), else the file's own."""
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    own, image = open_source(source, result.get("index", 0))
    stem = stem or own
    with_pixels(result, *image.size)
    return {
        "image_file": save_png(draw(image, result["objects"], metadata["class_names"]), save_dir / f"{stem}_boxes.png")
    }


def annotate(result: dict, source, metadata: dict | None = None) -> dict:
    """What ``predict`` adds without --save-dir: ``box_px`` in the input image's own pixels."""
    return with_pixels(result, *source_size(source))
