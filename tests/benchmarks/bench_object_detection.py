"""Object-detection figures, measured in one run (not a test).

    python tests/benchmarks/bench_object_detection.py --out /tmp/detbench           # all three parts
    python tests/benchmarks/bench_object_detection.py --skip-throughput --out DIR  # parts 2 and 3
    python tests/benchmarks/bench_object_detection.py --run saved_models/object-detection/<run> --out DIR  # reuse

1. training throughput (img/s) of the default model and pipeline: --precision auto
   against float32 (and explicit mixed_bfloat16), each in its own process;
2. the default recipe (``edgesuite train object-detection`` with no flags but --out)
   trained under a wall-clock budget (``--budget-min``, 20 by default, passed as the
   driver's ``--time-budget``: no epoch starts that would not end within it), then COCO mAP@0.5 and mAP@[.5:.95] on the
   held-out test canvases;
3. every export format: status, size, mAP@0.5, agreement with the Keras model's
   detections, and batch-1 latency (``edgesuite benchmark``; NMS included where
   the format holds it, the numpy postprocess not timed).

Writes ``bench_object_detection.json`` under --out and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from benchlib import export_and_time, format_rows, print_format_table, spawn_json, train_within, training_step_time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the run and the JSON")
    ap.add_argument("--run", default=None, help="use this finished run instead of training one")
    ap.add_argument("--budget-min", type=float, default=20.0)
    ap.add_argument("--samples", type=int, default=30, help="timed batch-1 runs per format")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per precision")
    ap.add_argument("--throughput-only", action="store_true", help="measure part 1 only")
    ap.add_argument("--skip-throughput", action="store_true", help="measure parts 2 and 3 only")
    ap.add_argument("--worker", nargs=1, help=argparse.SUPPRESS)
    ap.add_argument("train_args", nargs="*", help="extra flags for the training run (after --)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(training_step_time("object-detection", args.worker[0], args.steps, canvas_count=600)))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {"throughput": []}
    if not args.skip_throughput:
        result["throughput"] = throughput(args.steps, out)
    if args.throughput_only:
        (out / "bench_object_detection_throughput.json").write_text(json.dumps(result, indent=2))
        return 0
    if args.run:
        run, seconds = Path(args.run), None
    else:
        run, seconds = train_within("object-detection", out, args.budget_min * 60, args.train_args)
    metrics = json.loads((run / "metrics.json").read_text())
    history = (run / "history.csv").read_text().strip().splitlines()
    result["training"] = {
        "run": str(run),
        "seconds": seconds,
        "epochs": len(history) - 1,
        **{k: metrics[k] for k in ("map50", "map50_95", "map75", "recall", "per_class")},
    }
    report, timing = export_and_time(run, args.samples)
    result["formats"] = format_rows(report, timing, "map50", "agreement")
    (out / "bench_object_detection.json").write_text(json.dumps(result, indent=2))
    t = result["training"]
    print(
        f"\n2. test mAP@0.5 {t['map50']:.4f}, mAP@[.5:.95] {t['map50_95']:.4f}, AR@100 {t['recall']:.4f} "
        f"after {t['epochs']} epochs" + (f" in {t['seconds'] / 60:.1f} min" if t["seconds"] else "")
    )
    print("   per class AP@0.5: " + ", ".join(f"{n} {v['ap50']:.3f}" for n, v in t["per_class"].items()))
    print_format_table(result["formats"], "map50", "agreement", title="\n3. ", indent="   ")
    print(f"saved: {out / 'bench_object_detection.json'}")
    return 0


def throughput(steps: int, out: Path) -> list[dict]:
    # float32 and auto alternate, twice each, so a slow spell on the machine does not land on one of them
    runs = [
        spawn_json(__file__, p, "--steps", str(steps), "--out", str(out))
        for p in ("float32", "auto", "float32", "auto", "mixed_bfloat16")
    ]
    rows = []
    for precision in ("float32", "auto", "mixed_bfloat16"):
        mine = [r for r in runs if r["precision"] == precision]
        rows.append(
            {
                **mine[0],
                "img_per_s": float(np.median([r["img_per_s"] for r in mine])),
                "each_img_per_s": [round(r["img_per_s"], 1) for r in mine],
            }
        )
    base = rows[0]["img_per_s"]
    print(f"\n1. training throughput (batch 32, {steps} timed steps after one warm-up epoch, augmentation on)")
    for r in rows:
        print(
            f"   {r['precision']:<16}{r['policy']:<16}{r['img_per_s']:>8.1f} img/s"
            f"{r['img_per_s'] / base:>8.2f}x float32"
            f"   (runs: {r['each_img_per_s']})"
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
