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
        out.append(
            {
                "label": class_names[int(order[0])],
                "probability": float(row[order[0]]),
                "top_k": [{"label": class_names[int(i)], "probability": float(row[i])} for i in order],
            }
        )
    return out


# Large microscopy and aerial images are normal input, so edgesuite reads images of up to 2**28 pixels
# (16,384 x 16,384; 805 MB decoded as RGB), three times Pillow's own decompression-bomb limit, and
# refuses larger ones with a message that names the file, its size and the limit.
MAX_IMAGE_PIXELS = 2**28
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
        raise ValueError(
            f"{w}x{h} = {w * h:,} pixels, above the {MAX_IMAGE_PIXELS:,} that edgesuite reads "
            "(decode.MAX_IMAGE_PIXELS); cut it into tiles or downscale it"
        )
    if load:
        try:
            im.load()
        except UNREADABLE as exc:
            im.close()
            raise ValueError(f"not a readable image ({exc.__class__.__name__}: {exc})") from None
    return im


def eight_bit(im):
    """A PIL image whose pixels are not 8-bit (16-bit grey ``I;16*``, 32-bit ``I``, float ``F``) as 8-bit grey
    ``L``; other images as they are.

    One convention for every reader, training and prediction alike: a 16-bit value keeps its high byte
    (``v >> 8``), which is what TensorFlow's decoder (the image classifier's training pipeline) and Pillow's
    own 16-bit RGB reader do. ``I`` is clipped to 0..65535 first; ``F`` is read as 0..1 when no value exceeds
    1, else as 0..255, and clipped."""
    from PIL import Image

    if im.mode.startswith("I;16") or im.mode == "I":
        a = np.clip(np.asarray(im, dtype=np.int64), 0, 65535) >> 8
        return Image.fromarray(a.astype(np.uint8))
    if im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0)
        a = a * 255 if a.size and a.max() <= 1.0 else a
        return Image.fromarray(np.clip(np.round(a), 0, 255).astype(np.uint8))
    return im


def read_images(inputs, size: int, channels: int) -> np.ndarray:
    """Image files or arrays -> (N, size, size, channels) uint8 (PIL, no TensorFlow).

    What training did: 16-bit pixels by their high byte (:func:`eight_bit`), grey ('L') or RGB, bilinear
    resize to the model's input size.
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
        im = eight_bit(im).convert("L" if channels == 1 else "RGB").resize((size, size), Image.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
        batch.append(arr[..., None] if channels == 1 else arr)
    return np.stack(batch)


def source_size(source) -> tuple[int, int]:
    """(width, height) of an input: an image file, an (H, W, C) array or a PIL image."""
    from pathlib import Path

    if hasattr(source, "size") and isinstance(source.size, tuple):  # a PIL image
        return source.size
    if isinstance(source, (str, Path)):
        try:
            with open_image(source, load=False) as im:
                return im.size
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    shape = np.asarray(source).shape
    return shape[-2], shape[-3]


def open_source(source, index: int = 0):
    """An input as (stem, RGB PIL image at its own size): an image file, or an array named ``input<index>``.

    What the apps' ``save`` functions draw on; they write ``<stem>_<what>.png``.
    """
    from pathlib import Path

    from PIL import Image

    if isinstance(source, (str, Path)):
        try:
            with open_image(source) as im:
                return Path(source).stem, eight_bit(im).convert("RGB")
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
    return f"input{index}", Image.fromarray(np.asarray(source, np.uint8).squeeze()).convert("RGB")


def output_stems(sources) -> list[str]:
    """The stem that names each input's saved files (``<stem>_mask.png``), one per input and no two alike: a
    file's stem, ``input<i>`` for an array; files whose stems collide (``a/000.png`` and ``b/000.png``) take the
    fewest of their folders' names in front that tell them apart (``a_000``, ``b_000``), and a number where
    even those agree (the same file twice, ``000.png`` beside ``000.jpg``): ``000-2``."""
    from collections import defaultdict
    from pathlib import Path

    paths = [Path(s).absolute() if isinstance(s, (str, Path)) else None for s in sources]
    stems = [p.stem if p is not None else f"input{i}" for i, p in enumerate(paths)]
    groups = defaultdict(list)
    for i, p in enumerate(paths):
        if p is not None:
            groups[p.stem].append(i)

    def with_folders(i: int, k: int) -> str:
        folders = [q.name for q in list(paths[i].parents)[:k] if q.name]
        return "_".join([*reversed(folders), paths[i].stem])

    for members in (m for m in groups.values() if len(m) > 1):
        depth = max(len(paths[i].parents) for i in members)
        k = max(range(depth + 1), key=lambda k: (len({with_folders(i, k) for i in members}), -k))
        for i in members:
            stems[i] = with_folders(i, k)
    taken, out = set(), []
    for stem in stems:
        candidate, n = stem, 1
        while candidate in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        out.append(candidate)
    return out


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

    files = sorted(
        p
        for p in Path(root).rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and not {"masks", "labels"} & {part.lower() for part in p.parts}
    )
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
