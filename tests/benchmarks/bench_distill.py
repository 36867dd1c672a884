"""Knowledge distillation on the embedded data: a small student distilled from the default model against the
same student trained alone, and the int8 ``.tflite`` of each beside the teacher's.

    python tests/benchmarks/bench_distill.py [--task image-classification|text-classification]
        [--seeds 1 2 3] [--teachers 3] [--teacher-flags='--epochs 30'] [--student='--width 0.25 ...']
        [--work DIR] [--extra --precision float32 ...]

Every run trains on the same splits (``--split-seed``, default 42), so the teachers are trained once and
teach every student. The teachers are the default recipe at ``--teachers`` seeds of their own (1001, 1002,
...; several = an ensemble over seeds, their probabilities averaged; ``--teacher-flags`` adds flags to their
runs, e.g. ``--epochs 30`` so that they train as long as the students); per student seed the student (image:
the default CNN at ``--width 0.5``, a quarter of its parameters, for 30 epochs; text: the CNN at
``--embed-dim 16 --hidden 16``, the default being ``--model auto``; ``--student`` replaces it) trains alone
and with ``--teacher``, at the same seed, so each seed is a paired comparison. Printed: test accuracy and
macro F1 per run, the teachers' ensemble, training seconds, the gain per seed with its mean and median, and
the int8 file's size and batch-1 latency (``edgesuite benchmark``, median of 50 runs, one process per file).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, edgesuite, int8_row  # noqa: E402

STUDENTS = {
    "image-classification": ["--width", "0.5", "--epochs", "30"],
    "text-classification": ["--model", "cnn", "--embed-dim", "16", "--hidden", "16"],
}


def train(task: str, out: Path, name: str, args: list[str]) -> tuple[Path, dict, float]:
    t0 = time.time()
    proc = edgesuite("train", task, "--out", str(out), "--name", name, *args)
    if proc.returncode:
        raise SystemExit(f"{name}: training failed (exit {proc.returncode})")
    run = out / task / name
    return run, json.loads((run / "metrics.json").read_text()), time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="image-classification", choices=sorted(STUDENTS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[1], help="the students' seeds")
    ap.add_argument("--teachers", type=int, default=1, help="default-recipe teachers at seeds of their own")
    ap.add_argument("--split-seed", type=int, default=42)
    ap.add_argument(
        "--student",
        default=None,
        help="the student's flags as one string, e.g. --student='--width 0.25 --epochs 30' (default: see above)",
    )
    ap.add_argument(
        "--teacher-flags",
        default="",
        help="flags of the teachers' runs beside the default recipe as one "
        "string, e.g. --teacher-flags='--epochs 30' (a teacher trained as long as its students)",
    )
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="flags for every run (e.g. --precision)")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-distill-"))
    student = shlex.split(args.student) if args.student else STUDENTS[args.task]
    split = ["--split-seed", str(args.split_seed), *args.extra]
    print(
        f"host: {cpu_summary()}\ntask: {args.task}, {args.teachers} teacher(s) "
        f"({args.teacher_flags or 'the default recipe'}), student {' '.join(student)}, "
        f"seeds {args.seeds}, split seed {args.split_seed}, runs in {out}"
    )
    rows, gains = [], []
    teachers = []
    for i in range(args.teachers):
        run, m, secs = train(
            args.task, out, f"teacher-{i + 1}", ["--seed", str(1001 + i), *split, *shlex.split(args.teacher_flags)]
        )
        teachers.append(str(run))
        rows.append(("teacher", 1001 + i, m, secs, run))
    for seed in args.seeds:
        common = ["--seed", str(seed), *split, *student]
        alone, am, at = train(args.task, out, f"student-alone-s{seed}", common)
        distilled, dm, dt = train(args.task, out, f"student-distilled-s{seed}", common + ["--teacher", *teachers])
        rows += [("student alone", seed, am, at, alone), ("student distilled", seed, dm, dt, distilled)]
        gains.append(dm["accuracy"] - am["accuracy"])
        print(
            f"seed {seed}: distilled - alone = {100 * gains[-1]:+.2f} accuracy points; teachers' ensemble "
            f"{dm['teacher_ensemble']['accuracy']:.4f}"
        )
    print("\n| run | seed | test accuracy | macro F1 | training s | int8 MB | int8 ms (1 thread) | int8 accuracy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ensemble = None
    for name, seed, m, secs, run in rows:
        q = int8_row(run) if (name, seed) in (("teacher", 1001), ("student distilled", args.seeds[0])) else {}
        fmt = lambda v, f: f.format(v) if isinstance(v, (int, float)) else "-"  # noqa: E731
        print(
            f"| {name} | {seed} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {secs:.0f} | "
            f"{fmt(q.get('size_mb'), '{:.3f}')} | {fmt(q.get('ms'), '{:.3f}')} | "
            f"{fmt(q.get('int8_metric'), '{:.4f}')} |"
        )
        ensemble = m.get("teacher_ensemble", ensemble)
    if ensemble:
        print(
            f"| teachers' ensemble ({len(ensemble['runs'])}) | - | {ensemble['accuracy']:.4f} | "
            f"{ensemble['macro_f1']:.4f} | | | | |"
        )
    print(
        f"\ngain of distillation over {len(gains)} seed(s): median {100 * statistics.median(gains):+.2f}, "
        f"mean {100 * statistics.mean(gains):+.2f} accuracy points"
    )


if __name__ == "__main__":
    main()
