"""Object detection: its images for ``edgesuite data check``, their box statistics and the cleaned copy.

Duplicates are judged on the images. The boxes: how many per image, their classes, their size as a share of
the image side, and the boxes the loader clips or drops (outside the image, zero or negative area), read again
from the annotation files so that each is named. An image holds several boxes, so label errors are not ranked
here (a wrong box shows in the per-class AP).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edgesuite.apps.object_detection import data as oddata
from edgesuite.apps.object_detection import formats
from edgesuite.common import datacheck as dc
from edgesuite.common.data import SkipLog
from edgesuite.common.log import progress
from edgesuite.common.stream import FileRows

SMALL_SHARE = 0.02  # a box whose side is under this share of the image side is a few pixels at the model's input


def _box_problems(cfg) -> list[dc.Finding]:
    """The boxes the loader drops or clips, each named with its file (the annotations read again, no image
    decoded twice: ``formats.read`` checks sizes from the headers)."""
    root = Path(cfg.data)
    if cfg.data == "canvas" or not root.is_dir():
        return []
    folders = [root / f for f in ("train", "val", "validation", "test") if (root / f).is_dir()] or [root]
    out = []
    for folder in folders:
        skips, clips = SkipLog("boxes", strict=False), SkipLog("clipped", strict=False)
        formats.read(folder, cfg.format, skips, clips)
        for where, why in skips.items:
            kind = (
                "box-outside"
                if "outside" in why
                else "box-degenerate"
                if "area" in why or "finite" in why
                else "box-skipped"
            )
            out.append(dc.Finding(kind, [where], why, [folder.name if folder != root else "train"]))
        for where, why in clips.items:
            out.append(dc.Finding("box-clipped", [where], why, [folder.name if folder != root else "train"]))
    return out


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    from edgesuite.common.data import with_image_size

    cfg = with_image_size(cfg)  # as the Task's load_data: the image size first
    splits = oddata.load_splits(cfg)
    names, size = splits.class_names, cfg.image_size
    items, findings = [], _box_problems(cfg)
    per_image, sides, class_counts = {}, {}, {}
    total = sum(len(p) for _, p in dc.split_parts(splits))
    with progress(total=total, desc="hashing images", unit="img", disable=total < 500, leave=False) as bar:
        for split, part in dc.split_parts(splits):
            for i in range(len(part)):
                source = str(part.images.keys[i]) if isinstance(part.images, FileRows) else part.images[i]
                items.append(dc.image_item(part.names[i], split, None, source, i))
                bar.update()
            real = part.classes >= 0
            per_image[split] = real.sum(1)
            b = part.boxes[real]
            sides[split] = np.sqrt(np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 0, None)) / size
            class_counts[split] = np.bincount(part.classes[real], minlength=len(names)).tolist()
            for i in np.flatnonzero(per_image[split] == 0):
                findings.append(
                    dc.Finding(
                        "no-box",
                        [part.names[i]],
                        "an image without any box (a negative)",
                        [split],
                        thumbs=[items[-len(part) + i].thumb],
                    )
                )
    lines = [
        "| class | " + " | ".join(class_counts) + " |",
        "| --- | " + " | ".join("---:" for _ in class_counts) + " |",
    ]
    lines += [
        f"| {n} | " + " | ".join(str(class_counts[s][c]) for s in class_counts) + " |" for c, n in enumerate(names)
    ]
    lines += [
        "",
        "Boxes per image: "
        + "; ".join(
            f"{s} mean {v.mean():.2f}, most {int(v.max())}, none in {int((v == 0).sum())}" for s, v in per_image.items()
        ),
        "Box side (square root of its area) as a share of the image side: "
        + "; ".join(
            f"{s} median {np.median(v):.2f}, under {SMALL_SHARE:.0%}: {int((v < SMALL_SHARE).sum())}"
            for s, v in sides.items()
            if len(v)
        ),
        f"Boxes outside their image or degenerate (dropped by the loader): "
        f"{sum(f.kind in ('box-outside', 'box-degenerate') for f in findings)}; clipped to their image: "
        f"{sum(f.kind == 'box-clipped' for f in findings)}.",
    ]
    section = dc.Section(
        "Boxes",
        lines,
        [
            dc.bar_plot(names, class_counts, plots / "box_classes.png", "boxes per class"),
            dc.histogram_plot(sides, plots / "box_sizes.png", "box side / image side", "share of the image side"),
        ],
        {
            "class_counts": class_counts,
            "boxes_per_image": {s: v.tolist() for s, v in per_image.items()},
            "box_side_share": {s: v.tolist() for s, v in sides.items()},
        },
    )
    return dc.Inspection(
        splits.data_name,
        items,
        None,
        [section],
        findings,
        splits=splits,
        label_errors_skipped="Images hold several boxes each: no label errors are ranked per item "
        "(see the per-class AP).",
    )


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/train|val|test`` in YOLO format (``images/``, ``labels/``, ``data.yaml``): files copied as they are
    with their boxes as the loader read them (clipped; a difficult flag, which YOLO cannot hold, becomes a plain
    box), the canvases as PNGs; ``--data out`` reads it with its splits as they are."""
    splits = found.splits
    size = float(splits.train.images.shape[1])
    for split, part in dc.split_parts(splits):
        keep = dc.kept(part, split, dropped)
        folder = out / split
        if not isinstance(part.images, FileRows):
            images = [(f"{split}_{i:05d}.png", part.images[i]) for i in keep]
            boxes = [part.boxes[i][part.classes[i] >= 0] for i in keep]
            classes = [part.classes[i][part.classes[i] >= 0] for i in keep]
            formats.write_yolo(folder, images, boxes, classes, splits.class_names)
            continue
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels").mkdir(parents=True, exist_ok=True)
        for i in keep:
            path = Path(part.images.keys[i])
            name = dc.safe_name(i, str(path))
            shutil.copy2(path, folder / "images" / name)
            real = part.classes[i] >= 0
            lines = [
                f"{int(c)} {formats._num((b[0] + b[2]) / 2 / size)} {formats._num((b[1] + b[3]) / 2 / size)} "
                f"{formats._num((b[2] - b[0]) / size)} {formats._num((b[3] - b[1]) / size)}"
                for b, c in zip(np.asarray(part.boxes[i][real], np.float64), part.classes[i][real])
            ]
            (folder / "labels" / f"{Path(name).stem}.txt").write_text("".join(ln + "\n" for ln in lines))
        formats._write_text(
            folder / "data.yaml", "names:\n" + "".join(f'  {k}: "{n}"\n' for k, n in enumerate(splits.class_names))
        )


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[..., :2]), np.minimum(box[2:], boxes[..., 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), -1)
    area = np.prod(box[2:] - box[:2]) + np.prod(boxes[..., 2:] - boxes[..., :2], -1) - inter
    return inter / np.maximum(area, 1e-9)


def explain(
    model, predictor, inputs: list, save_dir: Path | None = None, target: str | None = None, box: int | None = None
) -> list[dict]:
    """For a detected box (``box``: its rank by score, 0 the best; or the best box of class ``target``), which
    parts of the image hold it up: occlusion, the fall of the box's class score, taken as the best score of the
    head's candidates overlapping it (IoU >= 0.5), when a grey patch covers each place. Occlusion runs through
    any model or file alike. One dict per image (``maps``, ``peak``, ``box``)."""
    from edgesuite.apps.object_detection import postprocess as codec
    from edgesuite.common import explain as cx
    from edgesuite.common.errors import UserInputError

    meta = predictor.metadata
    names, size = meta["class_names"], meta["input"]["shape"][0]
    if target is not None and target not in names:
        raise UserInputError(f"--target: {target!r} is not one of the model's classes ({', '.join(names)})")
    x = predictor.codec.preprocess(inputs, meta)

    def raw(imgs):
        return np.asarray(predictor.predict_raw(imgs), np.float32)

    found = codec.detections(raw(x), meta)
    out = []
    for i, item in enumerate(inputs):
        det = found[i]
        order = [j for j in np.argsort(-det["scores"]) if target is None or names[int(det["classes"][j])] == target]
        name = str(item) if isinstance(item, (str, Path)) else f"input{i}"
        if box is not None and box >= len(order):
            raise UserInputError(
                f"--box: {name} has {len(order)} detected boxes"
                + (f" of {target}" if target else "")
                + f"; --box {box} is not one of them"
            )
        if not order:
            out.append(
                {
                    "input": name,
                    "maps": {},
                    "peak": {},
                    "box": None,
                    "image": x[i],
                    "text": f"{name}: no box detected" + (f" of {target}" if target else "") + " to explain",
                }
            )
            continue
        j = order[box or 0]
        chosen, k = det["boxes"][j], int(det["classes"][j])

        def score(p, chosen=chosen, k=k):
            boxes, scores = codec.decode(p, size, len(names))
            near = _iou(chosen, boxes) >= 0.5
            return np.where(near, scores[..., k], 0).max(-1)

        heat = cx.occlusion(raw, x[i : i + 1], score)[0]
        label = f"{names[k]} {det['scores'][j]:.2f}"
        shown = {
            "input": name,
            "explained": label,
            "method": "occlusion",
            "image": x[i],
            "maps": {label: heat},
            "peak": {label: cx.peak(heat)},
            "box": [float(v) for v in chosen],
        }
        if save_dir is not None:
            stem = Path(name).stem if isinstance(item, (str, Path)) else name
            framed = x[i].copy()
            x1, y1, x2, y2 = (np.clip(np.asarray(chosen) * size, 0, size - 1)).astype(int)
            framed[y1 : y2 + 1, [x1, x2]] = (255, 255, 0)
            framed[[y1, y2], x1 : x2 + 1] = (255, 255, 0)
            shown["file"] = str(
                cx.save_panels(save_dir / f"{stem}_explain.png", framed, {label: heat}, f"occlusion: {name}")
            )
        shown["text"] = (
            f"{name}: box {label} at {[round(v, 3) for v in shown['box']]}; occlusion peaks at row, "
            f"column {shown['peak'][label]}" + (f"; wrote {shown['file']}" if "file" in shown else "")
        )
        out.append(shown)
    return out
