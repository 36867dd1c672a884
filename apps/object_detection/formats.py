"""Box files users have -> one internal form, and back (``edgesuite data make-canvas``).

The internal form of one image is an :class:`Annotated`: its file, its size,
boxes as ``xyxy`` floats in the image's own pixels (continuous coordinates:
pixel ``i`` covers ``[i, i + 1)``, so a box around pixels 3..9 is ``[3, 10)``),
a class id per box (0-based, into the data set's class names) and a
``difficult`` flag per box (VOC ``difficult``, COCO ``iscrowd``: kept out of
training and ignored by the metric, as the VOC and COCO evaluations do).

Readers (each names the file and line of a problem):

- COCO: ``images/`` + one annotations JSON (``annotations.json``, or the single
  ``*.json`` beside ``images/`` or in ``annotations/``); ``bbox`` is
  ``[x, y, w, h]`` in pixels; category ids map to 0..K-1 in id order.
- Pascal VOC: ``JPEGImages/`` + ``Annotations/*.xml``; ``xmin..xmax`` are
  1-based inclusive pixel indices, so ``x1 = xmin - 1, x2 = xmax``; class names
  from ``classes.txt`` or else every ``<name>`` seen, sorted.
- YOLO: ``images/`` + ``labels/*.txt`` of ``class cx cy w h`` normalised to
  0..1; class names from ``data.yaml`` (``names:`` list or dict) or ``classes.txt``.

Problems a reader meets go to a :class:`SkipLog`: a box partly outside the image
is clipped (counted), a box with no area left is skipped, an unknown class id, a
label file for a missing image, an unreadable file or a malformed line are
skipped; ``--strict`` makes each an error. Malformed JSON or XML names the line. The
class list itself is never skipped from: a name holding a control character, a name
listed twice, YOLO ``names:`` keys that are not the ids 0..K-1 or a COCO category id
listed twice is an error naming the file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesuite.common.data import IMAGE_EXTENSIONS, SkipLog, check_labels
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import read_text_file

FORMATS = ("coco", "voc", "yolo")


@dataclass
class Annotated:
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # (k, 4) float32 xyxy pixels
    classes: np.ndarray  # (k,) int64
    difficult: np.ndarray = field(default=None)  # (k,) bool

    def __post_init__(self):
        if self.difficult is None:
            self.difficult = np.zeros(len(self.classes), bool)


@dataclass
class BoxSet:
    items: list[Annotated]
    class_names: list[str]


# ---------------------------------------------------------------- checking boxes
def check_box(box, width: int, height: int, where: str, skips: SkipLog, clips: SkipLog) -> np.ndarray | None:
    """A box clipped to the image, or None when nothing valid is left (each counted, or fatal under strict)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(np.isfinite([x1, y1, x2, y2])):
        skips.skip(where, f"box {box} has a non-finite coordinate")
        return None
    if x2 <= x1 or y2 <= y1:
        skips.skip(where, f"box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} has zero or negative area")
        return None
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))
    if cx2 <= cx1 or cy2 <= cy1:
        skips.skip(where, f"box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} lies outside the {width}x{height} image")
        return None
    if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
        clips.skip(
            where,
            f"box x1={x1:g} y1={y1:g} x2={x2:g} y2={y2:g} reaches outside the {width}x{height} image (clipped to it)",
        )
    return np.array([cx1, cy1, cx2, cy2], np.float32)


def _image_size(path: Path) -> tuple[int, int]:
    from edgesuite.common.data import check_image

    return check_image(path)


def _images(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {
        p.stem: p
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    }


def _finish(path: Path, size, boxes, classes, difficult) -> Annotated:
    return Annotated(
        path,
        size[0],
        size[1],
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(classes, np.int64),
        np.asarray(difficult, bool),
    )


def _is_int(value) -> bool:
    """An integer as JSON and YAML give one (``True`` is a bool there, not the id 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


MAX_SIDE = 1 << 28  # no side above edgesuite's pixel limit (decode.MAX_IMAGE_PIXELS) is a real image's


def _voc_size(size) -> tuple[int, int] | None:
    """``(width, height)`` of a VOC ``<size>``; None when it is missing, empty or 0 (the image's own size is read
    then, as some tools write 0 for a size they did not know); ValueError saying what is wrong for any other
    value that is not whole pixels (inf, nan, -48, 1e30, 47.5)."""
    if size is None:
        return None
    texts = [(size.findtext(t) or "").strip() for t in ("width", "height")]
    if not all(texts):
        return None
    values = []
    for tag, text in zip(("width", "height"), texts):
        try:
            v = float(text)
        except ValueError:
            v = float("nan")
        if not (math.isfinite(v) and v == int(v) and 0 <= v <= MAX_SIDE):
            raise ValueError(f"<size><{tag}>{text}</{tag}>: expected a whole number of pixels (1 to {MAX_SIDE:,})")
        values.append(int(v))
    return None if 0 in values else (values[0], values[1])


def read_class_list(path: Path) -> list[str]:
    names = [ln.split("#", 1)[0].strip() for ln in read_text_file(path, flag=None).splitlines()]
    names = [n for n in names if n]
    if not names:
        raise UserInputError(f"{path}: no class names in it (one per line expected)")
    return check_labels(names, str(path))


# ---------------------------------------------------------------- COCO
def _coco_json(root: Path) -> Path:
    candidates = (
        [root / "annotations.json"]
        if (root / "annotations.json").is_file()
        else (sorted(root.glob("*.json")) or sorted((root / "annotations").glob("*.json")))
    )
    if len(candidates) != 1:
        raise UserInputError(
            f"{root}: expected one COCO annotations JSON (annotations.json), found "
            f"{len(candidates)}" + (f": {', '.join(p.name for p in candidates)}" if candidates else "")
        )
    return candidates[0]


def read_coco(root: Path, skips: SkipLog, clips: SkipLog) -> BoxSet:
    path = _coco_json(root)
    try:
        doc = json.loads(read_text_file(path, flag=None))
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise UserInputError(
            f'{path}: expected a COCO object {{"images": [...], "annotations": [...], '
            f'"categories": [...]}} at the top level, found {type(doc).__name__ if doc is not None else "null"}'
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            raise UserInputError(f"{path}: a COCO file needs a list '{key}' at the top level")
    if not all(isinstance(c, dict) and _is_int(c.get("id")) for c in doc["categories"]):
        raise UserInputError(f"{path}: every entry of 'categories' needs an integer 'id' (and a 'name')")
    cats = sorted(doc["categories"], key=lambda c: c["id"])
    twice = next((c["id"] for a, c in zip(cats, cats[1:]) if a["id"] == c["id"]), None)
    if twice is not None:
        raise UserInputError(f"{path}: category id {twice} is listed twice in 'categories'; each id names one class")
    cat_index = {c["id"]: i for i, c in enumerate(cats)}
    names = check_labels([c.get("name", c["id"]) for c in cats], f"{path} 'categories'")
    files = _images(root / "images") or _images(root)
    by_id, per_image = {}, {}
    for n, entry in enumerate(doc["images"]):
        if not (
            isinstance(entry, dict)
            and all(_is_int(entry.get(key)) for key in ("id", "width", "height"))
            and isinstance(entry.get("file_name"), str)
        ):
            skips.skip(f"{path} images[{n}]", "expected an object with integer id, width, height and a file_name")
            continue
        if entry["width"] <= 0 or entry["height"] <= 0:
            skips.skip(
                f"{path} images[{n}]",
                f"width {entry['width']} and height {entry['height']}: expected positive numbers of pixels",
            )
            continue
        stem = Path(entry["file_name"]).stem
        if stem not in files:
            skips.skip(
                f"{path} image id {entry.get('id')}", f"its file {entry.get('file_name')!r} is not in {root / 'images'}"
            )
            continue
        by_id[entry["id"]] = entry
        per_image[entry["id"]] = ([], [], [])
    for n, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict):
            skips.skip(f"{path} annotation #{n}", f"expected an object, found {type(ann).__name__}")
            continue
        where = f"{path} annotation #{n} (id {ann.get('id')})"
        image = by_id.get(ann.get("image_id")) if _is_int(ann.get("image_id")) else None
        if image is None:
            skips.skip(where, f"refers to image id {ann.get('image_id')!r}, which is not in 'images' or has no file")
            continue
        if not _is_int(ann.get("category_id")) or ann["category_id"] not in cat_index:
            skips.skip(where, f"unknown category_id {ann.get('category_id')} (categories: {sorted(cat_index)})")
            continue
        bbox = ann.get("bbox")
        if not (
            isinstance(bbox, list)
            and len(bbox) == 4
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
        ):
            skips.skip(where, f"bbox {bbox!r} is not [x, y, width, height]")
            continue
        x, y, w, h = bbox
        box = check_box([x, y, x + w, y + h], image["width"], image["height"], where, skips, clips)
        if box is not None:
            b, c, d = per_image[image["id"]]
            b.append(box)
            c.append(cat_index[ann["category_id"]])
            d.append(bool(ann.get("iscrowd", 0)))
    items = []
    for image_id, (b, c, d) in per_image.items():
        entry = by_id[image_id]
        items.append(_finish(files[Path(entry["file_name"]).stem], (entry["width"], entry["height"]), b, c, d))
    return BoxSet(items, names)


def write_coco(root: Path, images: list[tuple[str, np.ndarray]], boxes, classes, class_names) -> None:
    doc = {
        "info": {"description": "edgesuite canvases (Fashion-MNIST items on textured backgrounds)"},
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(class_names)],
    }
    for i, (name, image) in enumerate(images):
        doc["images"].append({"id": i + 1, "file_name": name, "width": image.shape[1], "height": image.shape[0]})
        for box, cls in zip(boxes[i], classes[i]):
            x1, y1, x2, y2 = (float(v) for v in box)
            doc["annotations"].append(
                {
                    "id": len(doc["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": int(cls) + 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    _write_images(root / "images", images)
    _write_text(root / "annotations.json", json.dumps(doc, indent=1))


# ---------------------------------------------------------------- Pascal VOC
def read_voc(root: Path, skips: SkipLog, clips: SkipLog) -> BoxSet:
    import xml.etree.ElementTree as ET

    files = _images(root / "JPEGImages")
    xmls = sorted((root / "Annotations").glob("*.xml"))
    parsed = []
    for xml in xmls:
        try:
            tree = ET.parse(xml)
        except ET.ParseError as exc:
            line, col = exc.position
            skips.skip(f"{xml}:{line}", f"malformed XML ({exc.msg if hasattr(exc, 'msg') else exc}, column {col})")
            continue
        stem = Path(tree.findtext("filename") or xml.stem).stem
        if stem not in files and xml.stem in files:
            stem = xml.stem
        if stem not in files:
            skips.skip(str(xml), f"no image '{stem}' in {root / 'JPEGImages'} for this annotation")
            continue
        parsed.append((xml, files[stem], tree))
    classes_txt = root / "classes.txt"
    if classes_txt.is_file():
        names = read_class_list(classes_txt)
    else:
        names = sorted({(o.findtext("name") or "").strip() for _, _, t in parsed for o in t.iter("object")} - {""})
        for name in names:  # each from some file: the first that names it
            where = next(
                str(x)
                for x, _, t in parsed
                if any((o.findtext("name") or "").strip() == name for o in t.iter("object"))
            )
            check_labels([name], f"{where} <name>")
    index = {n: i for i, n in enumerate(names)}
    items = []
    for xml, image_path, tree in parsed:
        try:
            wh = _voc_size(tree.find("size"))
        except ValueError as exc:
            skips.skip(str(xml), str(exc))
            continue
        if wh is None:  # no <size>, or 0 x 0 as some tools write it: the image's own
            try:
                wh = _image_size(image_path)
            except ValueError as exc:
                skips.skip(str(image_path), str(exc))
                continue
        b, c, d = [], [], []
        for k, obj in enumerate(tree.iter("object")):
            where = f"{xml} object #{k}"
            name = (obj.findtext("name") or "").strip()
            if name not in index:
                skips.skip(where, f"unknown class {name!r} (classes.txt: {', '.join(names)})")
                continue
            bb = obj.find("bndbox")
            try:
                xmin, ymin, xmax, ymax = (float(bb.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))
            except (AttributeError, TypeError, ValueError):
                skips.skip(where, "<bndbox> needs numeric xmin, ymin, xmax, ymax")
                continue
            box = check_box([xmin - 1, ymin - 1, xmax, ymax], wh[0], wh[1], where, skips, clips)
            if box is not None:
                b.append(box)
                c.append(index[name])
                d.append((obj.findtext("difficult") or "0").strip() == "1")
        items.append(_finish(image_path, wh, b, c, d))
    return BoxSet(items, names)


def write_voc(root: Path, images, boxes, classes, class_names) -> None:
    _write_images(root / "JPEGImages", images)
    for i, (name, image) in enumerate(images):
        objects = "".join(
            f"  <object><name>{class_names[int(c)]}</name><difficult>0</difficult><bndbox>"
            f"<xmin>{_num(b[0] + 1)}</xmin><ymin>{_num(b[1] + 1)}</ymin>"
            f"<xmax>{_num(b[2])}</xmax><ymax>{_num(b[3])}</ymax>"
            "</bndbox></object>\n"
            for b, c in zip(boxes[i], classes[i])
        )
        xml = (
            f"<annotation>\n  <filename>{name}</filename>\n  <size><width>{image.shape[1]}</width>"
            f"<height>{image.shape[0]}</height><depth>3</depth></size>\n{objects}</annotation>\n"
        )
        _write_text(root / "Annotations" / f"{Path(name).stem}.xml", xml)
    _write_text(root / "classes.txt", "\n".join(class_names) + "\n")


# ---------------------------------------------------------------- YOLO
def _yolo_names(root: Path) -> list[str]:
    for place in (root, root.parent):
        if (place / "data.yaml").is_file():
            import yaml

            try:
                doc = yaml.safe_load(read_text_file(place / "data.yaml", flag=None)) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                raise UserInputError(
                    f"{place / 'data.yaml'}:{mark.line + 1 if mark else '?'}: malformed YAML"
                ) from None
            return _yolo_yaml_names(place / "data.yaml", doc)
    for listing in (root / "classes.txt", root / "labels" / "classes.txt", root.parent / "classes.txt"):
        if listing.is_file():
            return read_class_list(listing)
    raise UserInputError(f"{root}: a YOLO data set needs its class names in data.yaml (names:) or classes.txt")


def _yolo_yaml_names(path: Path, doc) -> list[str]:
    """``names:`` of an Ultralytics data.yaml: a list, or a mapping whose keys are the class ids 0..K-1 (the ids
    the label files hold); ``nc:``, when given, must agree with it."""
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, dict):
        keys = list(names)
        bad = next((k for k in keys if not _is_int(k)), None)
        if bad is not None:
            raise UserInputError(
                f"{path}: names key {bad!r} is not a class id; expected the integer ids 0..K-1 as "
                "keys (or 'names:' as a list)"
            )
        if sorted(keys) != list(range(len(keys))):
            missing = sorted(set(range(max(max(keys) + 1, len(keys)))) - set(keys))
            raise UserInputError(
                f"{path}: names keys {sorted(keys)} are not the class ids 0..{len(keys) - 1} that "
                f"label files hold" + (f" (missing {missing[:5]})" if missing else "")
            )
        names = [names[k] for k in range(len(keys))]
    if not isinstance(names, list) or not names:
        raise UserInputError(f"{path}: expected 'names:' as a list or an id -> name mapping")
    nc = doc.get("nc")
    if nc is not None and (not _is_int(nc) or nc != len(names)):
        raise UserInputError(f"{path}: nc: {nc!r} disagrees with the {len(names)} classes under 'names:'")
    return check_labels(names, f"{path} names")


def read_yolo(root: Path, skips: SkipLog, clips: SkipLog) -> BoxSet:
    names = _yolo_names(root)
    files = _images(root / "images")
    labels = {p.stem: p for p in sorted((root / "labels").glob("*.txt")) if p.name != "classes.txt"}
    for stem in sorted(set(labels) - set(files)):
        skips.skip(str(labels[stem]), f"label file for a missing image: no '{stem}.*' in {root / 'images'}")
    items = []
    for stem, image_path in files.items():
        try:
            w, h = _image_size(image_path)
        except ValueError as exc:
            skips.skip(str(image_path), str(exc))
            continue
        b, c = [], []
        if stem in labels:  # an image without a label file has no objects (a YOLO background image)
            for line_no, line in enumerate(read_text_file(labels[stem], flag=None).splitlines(), 1):
                where = f"{labels[stem]}:{line_no}"
                fields = line.split()
                if not fields:
                    continue
                if len(fields) != 5:
                    skips.skip(where, f"expected 5 fields 'class cx cy w h', found {len(fields)}: {line.strip()!r}")
                    continue
                try:
                    cls = int(fields[0])
                    cx, cy, bw, bh = (float(v) for v in fields[1:])
                except ValueError:
                    skips.skip(where, f"expected an integer class and four numbers, found {line.strip()!r}")
                    continue
                if not 0 <= cls < len(names):
                    skips.skip(
                        where, f"unknown class id {cls} (the data set has {len(names)} classes, 0..{len(names) - 1})"
                    )
                    continue
                # to a millionth of a pixel: drops the float noise of normalised coordinates
                # (0.1 * 48 = 4.800000000000001)
                corners = [
                    round(v, 6) for v in ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
                ]
                box = check_box(corners, w, h, where, skips, clips)
                if box is not None:
                    b.append(box)
                    c.append(cls)
        items.append(_finish(image_path, (w, h), b, c, np.zeros(len(c), bool)))
    return BoxSet(items, names)


def write_yolo(root: Path, images, boxes, classes, class_names) -> None:
    _write_images(root / "images", images)
    for i, (name, image) in enumerate(images):
        h, w = image.shape[:2]
        boxes_i = np.asarray(boxes[i], np.float64)  # float64 arithmetic: normalised values read back exactly
        lines = [
            f"{int(c)} {_num((b[0] + b[2]) / 2 / w)} {_num((b[1] + b[3]) / 2 / h)} {_num((b[2] - b[0]) / w)} "
            f"{_num((b[3] - b[1]) / h)}"
            for b, c in zip(boxes_i, classes[i])
        ]
        _write_text(root / "labels" / f"{Path(name).stem}.txt", "".join(ln + "\n" for ln in lines))
    _write_text(
        root / "data.yaml", "names:\n" + "".join(f"  {i}: {json.dumps(n)}\n" for i, n in enumerate(class_names))
    )


# ---------------------------------------------------------------- shared
READERS = {"coco": read_coco, "voc": read_voc, "yolo": read_yolo}
WRITERS = {"coco": write_coco, "voc": write_voc, "yolo": write_yolo}


def detect_format(root: Path) -> str:
    if (root / "Annotations").is_dir():
        return "voc"
    if (root / "labels").is_dir():
        return "yolo"
    if (root / "annotations.json").is_file() or list(root.glob("*.json")) or (root / "annotations").is_dir():
        return "coco"
    raise UserInputError(
        f"{root}: cannot tell the box format (expected Annotations/ for VOC, labels/ for YOLO, "
        "or an annotations JSON for COCO); give --format"
    )


def read(root: Path, fmt: str, skips: SkipLog, clips: SkipLog) -> BoxSet:
    if fmt == "auto":
        fmt = detect_format(root)
    return READERS[fmt](root, skips, clips)


def _num(v: float) -> str:
    """Shortest text that reads back as the same float (boxes round-trip exactly)."""
    return repr(float(v))


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_images(folder: Path, images) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name, image in images:
        tmp = folder / f".{name}.tmp.png"
        Image.fromarray(image).save(tmp)
        os.replace(tmp, folder / name)
