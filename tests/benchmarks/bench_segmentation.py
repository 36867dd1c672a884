"""Segmentation figures, measured in one run (not a test).

    python tests/benchmarks/bench_segmentation.py --out /tmp/segbench    # train the default recipe, export, time
    python tests/benchmarks/bench_segmentation.py --run saved_models/segmentation/<run> --out DIR   # reuse a run

1. the default recipe (``edgesuite train segmentation`` with no flags but --out) trained
   under a wall-clock budget (``--budget-min``, 20 by default, passed as the driver's
   ``--time-budget``), then mIoU, per-class IoU, pixel accuracy and Dice on the held-out
   test canvases;
2. every export format: status, size, mIoU and pixel agreement with the Keras model;
3. per format batch-1 latency (``edgesuite benchmark``).

Writes ``bench_segmentation.json`` under --out and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from benchlib import export_and_time, format_rows, print_format_table, train_within


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the run and the JSON")
    ap.add_argument("--run", default=None, help="use this finished run instead of training one")
    ap.add_argument("--budget-min", type=float, default=20.0)
    ap.add_argument("--samples", type=int, default=30, help="timed batch-1 runs per format")
    ap.add_argument("train_args", nargs="*", help="extra flags for the training run (after --)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {}
    if args.run:
        run, seconds = Path(args.run), None
    else:
        run, seconds = train_within("segmentation", out, args.budget_min * 60, args.train_args)
    metrics = json.loads((run / "metrics.json").read_text())
    history = (run / "history.csv").read_text().strip().splitlines()
    result["training"] = {
        "run": str(run),
        "seconds": seconds,
        "epochs": len(history) - 1,
        **{k: metrics[k] for k in ("miou", "pixel_accuracy", "dice", "per_class_iou")},
    }
    report, timing = export_and_time(run, args.samples)
    result["formats"] = format_rows(report, timing, "miou", "pixel_agreement")
    (out / "bench_segmentation.json").write_text(json.dumps(result, indent=2))
    t = result["training"]
    print(
        f"\ntest mIoU {t['miou']:.4f}, pixel accuracy {t['pixel_accuracy']:.4f}, Dice {t['dice']:.4f} "
        f"after {t['epochs']} epochs" + (f" in {t['seconds'] / 60:.1f} min" if t["seconds"] else "")
    )
    print_format_table(result["formats"], "miou", "pixel_agreement")
    print(f"saved: {out / 'bench_segmentation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
