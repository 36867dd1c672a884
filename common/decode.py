"""Output decoding and input reading shared by the apps: numpy and Pillow only, no TensorFlow.

``edgesuite.load`` uses it on a board that has only numpy and a runtime.
"""

from __future__ import annotations

import numpy as np


def top_k_labels(probs, class_names: list[str], top_k: int = 3) -> list[dict]:
    """(N, K) probabilities -> one dict per row: label, probability, top-k list."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None]
    k = min(top_k, probs.shape[1])
    out = []
    for row in probs:
        order = np.argsort(-row)[:k]
        out.append({
            "label": class_names[int(order[0])],
            "probability": float(row[order[0]]),
            "top_k": [{"label": class_names[int(i)], "probability": float(row[i])} for i in order],
        })
    return out


# Large microscopy and aerial images are normal input, so edgesuite reads images of up to 2**28 pixels
# (16,384 x 16,384; 805 MB decoded as RGB), three times Pillow's own decompression-bomb limit, and
# refuses larger ones with a message that names the file, its size and the limit.
MAX_IMAGE_PIXELS = 2 ** 28
UNREADABLE = (OSError, SyntaxError, ValueError)  # Pillow's UnidentifiedImageError is an OSError


def open_image(path, load: bool = True):
    """Opens an image file with Pillow under edgesuite's pixel limit (``MAX_IMAGE_PIXELS``).

    ``load=False`` reads the header only (size, mode, format). Raises ``ValueError``
    saying what is wrong (unreadable, or too many pixels); the caller names the file.
    """
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and limit < MAX_IMAGE_PIXELS:
        # Pillow warns above its limit and refuses above twice it; ours is checked below with a clear message
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        im = Image.open(path)
    except UNREADABLE as exc:
        raise ValueError(f"not a readable image ({exc.__class__.__name__}: {exc})") from None
    except Image.DecompressionBombError as exc:  # only where a caller lowered Pillow's limit on purpose
        raise ValueError(f"not read: {exc}") from None
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        im.close()
        raise ValueError(f"{w}x{h} = {w * h:,} pixels, above the {MAX_IMAGE_PIXELS:,} that edgesuite reads "
                         "(decode.MAX_IMAGE_PIXELS); cut it into tiles or downscale it")
    if load:
        try:
            im.load()
        except UNREADABLE as exc:
            im.close()
            raise ValueError(f"not a readable image ({exc.__class__.__name__}: {exc})") from None
    return im


def read_images(inputs, size: int, channels: int) -> np.ndarray:
    """Image files or arrays -> (N, size, size, channels) uint8 (PIL, no TensorFlow).

    What training did: grey ('L') or RGB, bilinear resize to the model's input size.
    A missing or unreadable file raises ValueError naming it.
    """
    from pathlib import Path

    from PIL import Image

    if isinstance(inputs, np.ndarray) and inputs.ndim == 4 and inputs.shape[1:] == (size, size, channels):
        return inputs.astype(np.uint8)
    if isinstance(inputs, np.ndarray) and inputs.ndim in (2, 3):
        inputs = [inputs]
    batch = []
    for item in inputs:
        if isinstance(item, np.ndarray):
            im = Image.fromarray(item.squeeze().astype(np.uint8))
        else:
            path = Path(item)
            if not path.is_file():
                raise ValueError(f"{item}: no such image file")
            try:
                im = open_image(path)
            except ValueError as exc:
                raise ValueError(f"{item}: {exc}") from None
        im = im.convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
        batch.append(arr[..., None] if channels == 1 else arr)
    return np.stack(batch)


def open_source(source, index: int = 0):
    """An input as (stem, RGB PIL image at its own size): an image file, or an array named ``input<index>``.

    What the apps' ``save`` functions draw on; they write ``<stem>_<what>.png``.
    """
    from pathlib import Path

    from PIL import Image

    if isinstance(source, (str, Path)):
        try:
            with open_image(source) as im:
                return Path(source).stem, im.convert("RGB")
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return f"input{index}", Image.fromarray(np.asarray(source, np.uint8).squeeze()).convert("RGB")


def save_png(image, path) -> str:
    """Writes a PIL image under a temporary name, then renames it (no half-written PNG is ever there)."""
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    image.save(tmp)
    tmp.replace(path)
    return str(path)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def native_side(root, sample: int = 200) -> tuple[int, int] | None:
    """``(median shorter side, images read)`` of up to ``sample`` images under ``root`` (spread evenly over the
    sorted file list; masks/ and labels/ folders left out), from their headers alone; None when there are none."""
    from pathlib import Path

    files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                   and not {"masks", "labels"} & {part.lower() for part in p.parts})
    return median_side(files, sample)


def median_side(files: list, sample: int = 200) -> tuple[int, int] | None:
    """``(median shorter side, images read)`` of up to ``sample`` of ``files`` spread evenly over the list,
    from their headers alone; None when none could be read."""
    if not len(files):
        return None
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(sample, len(files))).astype(int)]
    sides = []
    for f in picked:
        try:
            with open_image(f, load=False) as im:
                sides.append(min(im.size))
        except Exception:  # an unreadable file is named by the data loader, with its line and reason
            continue
    return (int(np.median(sides)), len(sides)) if sides else None
