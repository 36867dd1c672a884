"""Decoding of segmentation outputs: numpy and Pillow only, importable without TensorFlow.

``edgesuite.load`` uses it on a board that has only numpy and LiteRT:
probabilities (N, S, S, K) -> a class map per image (uint8, the model's size),
the share of each class, and on request a mask PNG (palette, class indices) plus
a colour overlay at the input image's own size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesuite.common.decode import open_source, read_images, save_png


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
    """(N, S, S, K) probabilities -> per image the class map and the share of each class present."""
    names = metadata["class_names"]
    probs = np.asarray(probs)
    results = []
    for p in probs:
        class_map = p.argmax(-1).astype(np.uint8)
        counts = np.bincount(class_map.ravel(), minlength=len(names))
        shares = {names[c]: float(counts[c] / class_map.size) for c in np.argsort(-counts) if counts[c]}
        results.append({"class_map": class_map, "classes": shares, "confidence": float(p.max(-1).mean())})
    return results


def describe(result: dict) -> str:
    shares = ", ".join(f"{n} {s:.1%}" for n, s in list(result["classes"].items())[:5])
    saved = f" -> {result['mask_file']}" if "mask_file" in result else ""
    return f"{result.get('input', '')}: {shares}{saved}"


def example_input(metadata: dict) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (1, *metadata["input"]["shape"]), dtype=np.uint8)


def save(result: dict, source, save_dir, metadata: dict) -> dict:
    """Writes ``<stem>_mask.png`` (palette PNG of class indices, the input's size) and ``<stem>_overlay.png``."""
    from PIL import Image

    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    stem, image = open_source(source, result.get("index", 0))
    mask = Image.fromarray(result["class_map"], mode="P").resize(image.size, Image.NEAREST)
    mask.putpalette(palette().ravel().tolist())
    colour = np.asarray(mask.convert("RGB"), np.float32)
    shown = np.asarray(image, np.float32)
    fg = np.asarray(mask)[..., None] > 0
    overlay = np.where(fg, 0.45 * shown + 0.55 * colour, shown)
    return {"mask_file": save_png(mask, save_dir / f"{stem}_mask.png"),
            "overlay_file": save_png(Image.fromarray(np.uint8(np.round(overlay))), save_dir / f"{stem}_overlay.png")}
