"""Knowledge distillation on the embedded data: a small student distilled from the default model against the
same student trained alone, and the int8 ``.tflite`` of each beside the teacher's.

    python tests/benchmarks/bench_distill.py [--task image-classification|text-classification]
        [--seeds 1 2] [--ensemble] [--work DIR] [--extra --epochs 30 ...]

Per task: the teacher is the default recipe; the student is a smaller model (image: the default CNN at
``--width 0.5``, a quarter of its parameters, for 30 epochs; text: the CNN at ``--embed-dim 16 --hidden 16``,
the default being ``--model auto``), trained alone and with ``--teacher``
(``--ensemble``: a second teacher of another width, averaged with the first). Every run trains on the same
splits (one ``--seed`` per row: the splits and the initial weights both follow it, so teachers share the
student's seed). Printed: test accuracy and macro F1 per run, the ensemble's, training seconds, and the int8
file's size and batch-1 latency (``edgesuite benchmark``, median of 50 runs, one process per file).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, edgesuite  # noqa: E402

RECIPES = {
    "image-classification": {"student": ["--width", "0.5", "--epochs", "30"], "second": ["--width", "1.5"]},
    "text-classification": {"student": ["--model", "cnn", "--embed-dim", "16", "--hidden", "16"],
                            "second": ["--model", "bow"]},
}


def train(task: str, out: Path, name: str, args: list[str]) -> tuple[Path, dict, float]:
    t0 = time.time()
    proc = edgesuite("train", task, "--out", str(out), "--name", name, *args)
    if proc.returncode:
        raise SystemExit(f"{name}: training failed (exit {proc.returncode})")
    run = out / task / name
    return run, json.loads((run / "metrics.json").read_text()), time.time() - t0


def int8_row(run: Path) -> dict:
    edgesuite("export", str(run), "--formats", "tflite-int8")
    edgesuite("benchmark", str(run), "--formats", "tflite-int8", "--samples", "50")
    rows = json.loads((run / "export" / "benchmark.json").read_text())["rows"]
    row = next(r for r in rows if r["format"] == "tflite-int8")
    return {"size_mb": row.get("size_mb"), "ms": row.get("median_ms_1t"), "int8_metric": row.get("metric")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="image-classification", choices=sorted(RECIPES))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--ensemble", action="store_true", help="distil from two teachers of different widths")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags for every run (e.g. --precision)")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-distill-"))
    recipe = RECIPES[args.task]
    print(f"host: {cpu_summary()}\ntask: {args.task}, seeds {args.seeds}, runs in {out}")
    rows, gains = [], []
    for seed in args.seeds:
        common = ["--seed", str(seed), *args.extra]
        teacher, tm, ts = train(args.task, out, f"teacher-s{seed}", common)
        teachers = [str(teacher)]
        if args.ensemble:
            second, sm, ss = train(args.task, out, f"teacher2-s{seed}", common + recipe["second"])
            teachers.append(str(second))
            rows.append(("second teacher", seed, sm, ss, second))
        alone, am, at = train(args.task, out, f"student-alone-s{seed}", common + recipe["student"])
        distilled, dm, dt = train(args.task, out, f"student-distilled-s{seed}",
                                  common + recipe["student"] + ["--teacher", *teachers])
        rows += [("teacher", seed, tm, ts, teacher), ("student alone", seed, am, at, alone),
                 ("student distilled", seed, dm, dt, distilled)]
        gains.append(dm["accuracy"] - am["accuracy"])
        print(f"seed {seed}: distilled - alone = {100 * gains[-1]:+.2f} accuracy points; teachers' ensemble "
              f"{dm['teacher_ensemble']['accuracy']:.4f}")
    print(f"\n| run | seed | test accuracy | macro F1 | training s | int8 MB | int8 ms (1 thread) | int8 accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, seed, m, secs, run in rows:
        q = int8_row(run) if name in ("teacher", "student distilled") else {}
        fmt = lambda v, f: f.format(v) if isinstance(v, (int, float)) else "-"  # noqa: E731
        print(f"| {name} | {seed} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {secs:.0f} | "
              f"{fmt(q.get('size_mb'), '{:.3f}')} | {fmt(q.get('ms'), '{:.3f}')} | {fmt(q.get('int8_metric'), '{:.4f}')} |")
        if name == "student distilled":
            e = m["teacher_ensemble"]
            print(f"| teachers' ensemble ({len(e['runs'])}) | {seed} | {e['accuracy']:.4f} | {e['macro_f1']:.4f} "
                  "| | | | |")
    print(f"\ngain of distillation over {len(gains)} seed(s): median {100 * statistics.median(gains):+.2f}, "
          f"mean {100 * statistics.mean(gains):+.2f} accuracy points")


if __name__ == "__main__":
    main()
