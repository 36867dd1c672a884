"""``edgesuite tune`` against the default recipe within the same minutes, on an embedded data set.

    python tests/benchmarks/bench_tune.py [--task image-classification] [--minutes 8] [--trials 4]
        [--space lr,batch_size,augment,width] [--work DIR]

The default recipe trains once with ``--time-budget MIN --epochs E`` (the schedule stretched over the epochs
that fit); ``tune`` runs ``--trials`` trials sharing the same MIN minutes (each trial ``--epochs E`` at most,
its share of the budget), picks the best by the validation metric, and its trial's test metrics are read from
that trial's run. Printed: validation and test metric of each, wall time, and the best trial's knobs.
One process at a time, nothing else running.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, edgesuite  # noqa: E402

KEY = {"image-classification": "accuracy", "text-classification": "macro_f1"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="image-classification", choices=sorted(KEY))
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=60, help="the most epochs a run may have within its minutes")
    ap.add_argument("--space", default="lr,batch_size,augment,width")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-tune-"))
    key = KEY[args.task]
    print(f"host: {cpu_summary()}\n{args.task}: {args.minutes:g} min each, runs in {out}")
    common = ["--time-budget", f"{args.minutes:g}", "--epochs", str(args.epochs), "--out", str(out)]
    t0 = time.time()
    if edgesuite("train", args.task, "--name", "default", *common).returncode:
        raise SystemExit("the default run failed")
    default_s = time.time() - t0
    run = out / args.task / "default"
    d_val = json.loads((run / "checkpoints" / "state.json").read_text())["best"]
    d_test = json.loads((run / "metrics.json").read_text())[key]
    t0 = time.time()
    if edgesuite("tune", args.task, "--trials", str(args.trials), "--space", args.space, *common).returncode:
        raise SystemExit("tune failed")
    tune_s = time.time() - t0
    best = json.loads((out / args.task / "tune-study" / "best.json").read_text())
    b_test = json.loads((Path(best["run"]) / "metrics.json").read_text())[key]
    monitor = next(k for k in best if k.startswith("val_"))
    print(f"\n| {args.task}, {args.minutes:g} min | validation {monitor} | test {key} | wall s |")
    print("| --- | --- | --- | --- |")
    print(f"| default recipe | {d_val:.4f} | {d_test:.4f} | {default_s:.0f} |")
    print(
        f"| tune, best of {args.trials} trials ({best['params']}) | {best[monitor]:.4f} | {b_test:.4f} | {tune_s:.0f} |"
    )


if __name__ == "__main__":
    main()
