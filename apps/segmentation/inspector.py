"""Segmentation: its image/mask pairs for ``edgesuite data check``, their statistics and the cleaned copy.

Duplicates are judged on the images (a content hash of the file, a pHash of the picture); the statistics are
the classes' pixel shares in each split and the masks that hold no foreground or a single class over the whole
image. A mask has no one label, so there are no label errors to rank (a wrong mask shows in the per-class IoU).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edgesuite.apps.segmentation import data as sgdata
from edgesuite.common import datacheck as dc
from edgesuite.common.log import progress
from edgesuite.common.stream import FileRows


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    from edgesuite.common.data import with_image_size

    splits = sgdata.load_splits(with_image_size(cfg))  # as the Task's load_data: the image size first
    names = splits.class_names
    k = len(names)
    items, findings, shares = [], [], {}
    total = sum(len(p) for _, p in dc.split_parts(splits))
    with progress(total=total, desc="hashing images", unit="img", disable=total < 500, leave=False) as bar:
        for split, part in dc.split_parts(splits):
            counts = part.value_counts()
            for i in range(len(part)):
                if isinstance(part.images, FileRows):
                    path = str(part.images.keys[i])
                    item = dc.image_item(path, split, None, path, i)
                else:
                    a = part.images[i]
                    item = dc.image_item(part.names[i], split, None, a, i)
                items.append(item)
                bar.update()
                c = counts[i].copy()
                c[cfg.ignore_index] = 0
                present = np.flatnonzero(c[:k])
                if not c[1:k].any():
                    findings.append(
                        dc.Finding(
                            "empty-mask",
                            [part.names[i]],
                            "no pixel of any foreground class",
                            [split],
                            thumbs=[item.thumb],
                        )
                    )
                elif len(present) == 1:
                    findings.append(
                        dc.Finding(
                            "one-class-mask",
                            [part.names[i]],
                            f"every pixel is {names[present[0]]}",
                            [split],
                            thumbs=[item.thumb],
                        )
                    )
            pixels = counts[:, :k].sum(0).astype(np.float64)
            shares[split] = (pixels / max(pixels.sum(), 1)).tolist()
    lines = ["| class | " + " | ".join(shares) + " |", "| --- | " + " | ".join("---:" for _ in shares) + " |"]
    lines += [f"| {n} | " + " | ".join(f"{shares[s][c]:.2%}" for s in shares) + " |" for c, n in enumerate(names)]
    lines += [
        "",
        f"{sum(f.kind == 'empty-mask' for f in findings)} masks without foreground, "
        f"{sum(f.kind == 'one-class-mask' for f in findings)} masks of a single class.",
    ]
    plot = dc.bar_plot(
        names,
        {s: [100 * v for v in shares[s]] for s in shares},
        plots / "pixel_shares.png",
        "pixel share per class (%)",
    )
    return dc.Inspection(
        splits.data_name,
        items,
        None,
        [dc.Section("Class pixel shares", lines, [plot], {"shares": shares})],
        findings,
        splits=splits,
        label_errors_skipped="Masks have no one label per item: no label errors are ranked (see the per-class IoU).",
    )


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/train|val|test/images`` and ``masks`` (files copied as they are, or the canvases as PNGs), and
    ``classes.txt``: the layout ``--data out`` reads with its splits as they are."""
    from PIL import Image

    splits = found.splits
    root = Path(cfg.data)
    source_classes = (
        next((p for p in (root / "classes.txt", root.parent / "classes.txt") if p.is_file()), None)
        if root.is_dir()
        else None
    )
    on_disk = False
    for split, part in dc.split_parts(splits):
        for sub in ("images", "masks"):
            (out / split / sub).mkdir(parents=True, exist_ok=True)
        for i in dc.kept(part, split, dropped):
            if isinstance(part.images, FileRows):
                on_disk = True
                image, mask = Path(part.images.keys[i]), Path(part.masks.keys[i])
                shutil.copy2(image, out / split / "images" / image.name)
                shutil.copy2(mask, out / split / "masks" / mask.name)
            else:
                Image.fromarray(part.images[i]).save(out / split / "images" / f"{split}_{i:05d}.png")
                Image.fromarray(part.masks[i]).save(out / split / "masks" / f"{split}_{i:05d}.png")
    if source_classes is not None:
        shutil.copy2(source_classes, out / "classes.txt")
    elif not on_disk:
        (out / "classes.txt").write_text("\n".join(splits.class_names) + "\n", encoding="utf-8")


def explain(
    model, predictor, inputs: list, save_dir: Path | None = None, target: str | None = None, box: int | None = None
) -> list[dict]:
    """For the class ``target`` (default: the largest class other than background in each prediction), what
    made the model paint it: Grad-CAM of the class's mean probability over the pixels it predicted there, on
    the encoder's deepest feature map (occlusion for an exported file). One dict per image
    (``maps``, ``peak``, ``class_map``); with ``save_dir``, ``<stem>_explain.png``."""
    from edgesuite.common import explain as cx
    from edgesuite.common.errors import UserInputError

    meta = predictor.metadata
    names = meta["class_names"]
    if target is not None and target not in names:
        raise UserInputError(f"--target: {target!r} is not one of the model's classes ({', '.join(names)})")
    if box is not None:
        raise UserInputError("--box: only object detection explains a chosen box")
    x = predictor.codec.preprocess(inputs, meta)
    probs = np.asarray(predictor.predict_raw(x), np.float32)
    out = []
    for i, item in enumerate(inputs):
        class_map = probs[i].argmax(-1)
        counts = np.bincount(class_map.ravel(), minlength=len(names))
        counts[0] = 0 if counts[1:].any() else counts[0]
        k = names.index(target) if target is not None else int(counts.argmax())
        region = (class_map == k).astype(np.float32)
        region = region if region.any() else np.ones_like(region)
        weight = region / region.sum()

        def score(p, k=k, weight=weight):
            import tensorflow as tf

            if isinstance(p, np.ndarray):
                return (p[..., k] * weight).sum((1, 2))
            return tf.reduce_sum(tf.cast(p[..., k], tf.float32) * weight, axis=(1, 2))

        if model is not None:
            heat, method = (
                cx.grad_cam(model, x[i : i + 1], score, skip=("logits", "probabilities"), deepest=True)[0],
                "Grad-CAM",
            )
        else:
            heat = cx.occlusion(lambda imgs: np.asarray(predictor.predict_raw(imgs), np.float32), x[i : i + 1], score)[
                0
            ]
            method = "occlusion"
        name = str(item) if isinstance(item, (str, Path)) else f"input{i}"
        shown = {
            "input": name,
            "explained": names[k],
            "method": method,
            "image": x[i],
            "maps": {names[k]: heat},
            "peak": {names[k]: cx.peak(heat)},
            "class_map": class_map,
        }
        if save_dir is not None:
            stem = Path(name).stem if isinstance(item, (str, Path)) else name
            shown["file"] = str(
                cx.save_panels(
                    save_dir / f"{stem}_explain.png",
                    x[i],
                    {f"{names[k]} ({region.mean():.0%} of the image)": heat},
                    f"{method}: {name}",
                )
            )
        shown["text"] = (
            f"{name}: {names[k]} over {float((class_map == k).mean()):.0%} of the image; {method} "
            f"peaks at row, column {shown['peak'][names[k]]}" + (f"; wrote {shown['file']}" if "file" in shown else "")
        )
        out.append(shown)
    return out


EXPLAINED_IN_PLOTS = 4  # validation images whose Grad-CAM training adds to its plots


def explanation_plot(model, images: np.ndarray, class_names: list[str], out: Path) -> Path:
    """Grad-CAM of the largest predicted foreground class on a few validation images: ``plots/explanations.png``."""
    import tensorflow as tf

    from edgesuite.common import explain as cx

    x = np.asarray(images[:EXPLAINED_IN_PLOTS])
    class_maps = np.asarray(model(x, training=False)).argmax(-1)
    maps, titles = [], []
    for i in range(len(x)):
        counts = np.bincount(class_maps[i].ravel(), minlength=len(class_names))
        counts[0] = 0 if counts[1:].any() else counts[0]
        k = int(counts.argmax())
        weight = (class_maps[i] == k).astype(np.float32)
        weight /= weight.sum()
        maps.append(
            cx.grad_cam(
                model,
                x[i : i + 1],
                lambda p, k=k, w=weight: tf.reduce_sum(tf.cast(p[..., k], tf.float32) * w, axis=(1, 2)),
                skip=("logits", "probabilities"),
                deepest=True,
            )[0]
        )
        titles.append(f"{class_names[k]} ({(class_maps[i] == k).mean():.0%} predicted)")
    return cx.save_grid(out, x, maps, titles, "Grad-CAM of the largest predicted class")
