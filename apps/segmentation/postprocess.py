"""Decoding of segmentation outputs: numpy and Pillow only, importable without TensorFlow.

``edgesuite.load`` uses it on a board that has only numpy and LiteRT:
probabilities (N, S, S, K) -> a class map per image (uint8) at the input image's own
size (the scores resized bilinearly first, as MediaPipe's ImageSegmenter does), the
share of each class, and on request a mask PNG (palette, class indices) plus a
colour overlay.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesuite.common.decode import open_source, read_images, save_png, source_size


def palette(n: int = 256) -> np.ndarray:
    """The Pascal VOC colour map: (n, 3) uint8, class 0 black, then distinct colours."""
    out = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out[i] = (r, g, b)
    return out


def preprocess(inputs, metadata: dict, input_dtype: str | None = None) -> np.ndarray:
    """Image files or arrays -> (N, S, S, 3) uint8 at the trained size (RGB, bilinear)."""
    size = metadata["input"]["shape"][0]
    return read_images(inputs, size, 3)


def postprocess(probs, metadata: dict) -> list[dict]:
    """(N, S, S, K) probabilities -> per image the class map (the model's size until :func:`annotate` or
    :func:`save` brings it to the input's), the share of each class present and the mean confidence."""
    return [_decoded(p, metadata["class_names"]) | {PROBABILITIES: p} for p in np.asarray(probs)]


PROBABILITIES = "_probabilities"  # the model-size scores a result keeps until it is sized to its input (dropped then)


def _decoded(p: np.ndarray, names) -> dict:
    class_map = p.argmax(-1).astype(np.uint8)
    counts = np.bincount(class_map.ravel(), minlength=len(names))
    shares = {names[c]: float(counts[c] / class_map.size) for c in np.argsort(-counts) if counts[c]}
    return {"class_map": class_map, "classes": shares, "confidence": float(p.max(-1).mean())}


def at_size(probs: np.ndarray, width: int, height: int) -> np.ndarray:
    """(S, S, K) scores resized bilinearly to (height, width, K), as MediaPipe's ImageSegmenter sizes its masks
    to the input image before taking the best class, so that class edges follow the scores, not the grid."""
    from PIL import Image

    if probs.shape[:2] == (height, width):
        return probs
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(probs[..., k], np.float32), mode="F").resize(
                    (width, height), Image.BILINEAR
                )
            )
            for k in range(probs.shape[-1])
        ],
        axis=-1,
    )


def annotate(result: dict, source, metadata: dict) -> dict:
    """The class map, class shares and confidence at the input image's own size (``source``: its file or array)."""
    probs = result.pop(PROBABILITIES, None)
    if probs is not None:
        result.update(_decoded(at_size(probs, *source_size(source)), metadata["class_names"]))
    return result


def describe(result: dict) -> str:
    shares = ", ".join(f"{n} {s:.1%}" for n, s in list(result["classes"].items())[:5])
    saved = f" -> {result['mask_file']}" if "mask_file" in result else ""
    return f"{result.get('input', '')}: {shares}{saved}"


def example_input(metadata: dict) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (1, *metadata["input"]["shape"]), dtype=np.uint8)


def save(result: dict, source, save_dir, metadata: dict, stem: str | None = None) -> dict:
    """Writes ``<stem>_mask.png`` (palette PNG of class indices, the input's size) and ``<stem>_overlay.png``;
    ``stem``: the name the caller gave this input (``decode.output_stems``: unique among the inputs), else the
    file's own stem."""
    from PIL import Image

    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    own, image = open_source(source, result.get("index", 0))
    stem = stem or own
    annotate(result, image, metadata)
    mask = Image.fromarray(result["class_map"], mode="P").resize(image.size, Image.NEAREST)  # a no-op once sized
    mask.putpalette(palette().ravel().tolist())
    colour = np.asarray(mask.convert("RGB"), np.float32)
    shown = np.asarray(image, np.float32)
    fg = np.asarray(mask)[..., None] > 0
    overlay = np.where(fg, 0.45 * shown + 0.55 * colour, shown)
    return {
        "mask_file": save_png(mask, save_dir / f"{stem}_mask.png"),
        "overlay_file": save_png(Image.fromarray(np.uint8(np.round(overlay))), save_dir / f"{stem}_overlay.png"),
    }
