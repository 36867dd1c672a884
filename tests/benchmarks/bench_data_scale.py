"""Peak memory and step time of segmentation and detection as the data grows: images streamed from files.

For each app, ``edgesuite data make-canvas`` writes the canvases to disk at two sizes (``--counts``,
default 500 and 4000 training canvases, a sixth more each for validation and test) at ``--image-size``;
then one training process per row trains ``--epochs`` epochs from that folder:

    streamed   the default: files checked up front, decoded in tf.data, cached in memory when the decoded
               set fits --cache-memory-mb (512), else in a file cache
    in memory  the largest count with --cache-memory-mb 1000000: the decoded set held in memory, as the
               pipeline before streaming held it (one copy in TensorFlow's cache instead of two)

Measured per row: the process's peak resident memory (``wait4``), and the mean epoch after the first
(the driver's own clock, ``checkpoints/state.json``) as milliseconds per step. Printed: the table, memory at
the largest count over memory at the smallest, and the streamed step time over the in-memory one. The
model is at a quarter width (``--width 0.25``) so that the data pipeline, not the network, is what grows.

    python tests/benchmarks/bench_data_scale.py [--counts 500 4000] [--image-size 256] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APPS = {"segmentation": "masks", "object-detection": "coco"}


def cpu_flags() -> str:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return platform.processor()
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags)


def run(cmd: list[str], log: Path) -> tuple[int, float, float]:
    """(exit status, peak RSS in MB, wall seconds) of one child process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.time()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.time() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", type=int, nargs="+", default=[500, 4000])
    ap.add_argument("--image-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--apps", nargs="+", default=list(APPS), choices=list(APPS))
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["streamed", "in memory"],
        choices=["streamed", "in memory"],
        help="which rows to run (the in-memory one only at the largest count)",
    )
    ap.add_argument("--work", default=None, help="folder for the data and runs (default: a temporary one)")
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-data-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    edgesuite = [sys.executable, "-m", "edgesuite"]
    print(f"host: {os.cpu_count()} cores, {platform.processor() or platform.machine()} ({cpu_flags()}); work: {work}")
    rows = []
    for app in args.apps:
        for count in args.counts:
            data = work / f"{app}-{count}"
            if not data.exists():
                code, _, secs = run(
                    [
                        *edgesuite,
                        "data",
                        "make-canvas",
                        "--out",
                        str(data),
                        "--format",
                        APPS[app],
                        "--count",
                        str(count),
                        "--image-size",
                        str(args.image_size),
                    ],
                    work / "make.log",
                )
                if code:
                    print((work / "make.log").read_text()[-2000:])
                    return 1
                print(f"{app}: wrote {count} canvases at {args.image_size} px in {secs:.0f}s")
            modes = [("streamed", [])] if "streamed" in args.modes else []
            if count == max(args.counts) and "in memory" in args.modes:
                modes.append(("in memory", ["--cache-memory-mb", "1000000"]))
            for mode, extra in modes:
                name = f"{app}-{count}-{mode.replace(' ', '-')}"
                shutil.rmtree(work / "runs" / app / name, ignore_errors=True)
                cmd = [
                    *edgesuite,
                    "train",
                    app,
                    "--data",
                    str(data),
                    "--image-size",
                    str(args.image_size),
                    "--width",
                    "0.25",
                    "--epochs",
                    str(args.epochs),
                    "--batch-size",
                    str(args.batch_size),
                    "--early-stopping",
                    "0",
                    "--time-budget",
                    "100000",
                    "--out",
                    str(work / "runs"),
                    "--name",
                    name,
                    *extra,
                ]
                code, rss, secs = run(cmd, work / f"{name}.log")
                if code:
                    print((work / f"{name}.log").read_text()[-3000:])
                    return 1
                run_dir = work / "runs" / app / name
                state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
                info = json.loads((run_dir / "info.json").read_text())
                steps = -(-info["split_sizes"]["train"] // args.batch_size)
                cached = next(
                    (
                        line.split(": ", 1)[1]
                        for line in (work / f"{name}.log").read_text().splitlines()
                        if line.startswith("cache: train")
                    ),
                    "",
                )
                rows.append(
                    {
                        "app": app,
                        "count": count,
                        "mode": mode,
                        "rss_mb": rss,
                        "wall_s": secs,
                        "ms_per_step": 1000 * state["epoch_seconds"] / steps,
                        "cache": cached,
                    }
                )
                print(
                    f"{app:<17} {count:>5} {mode:<9}  peak RSS {rss:>6.0f} MB  {rows[-1]['ms_per_step']:>6.0f} ms/step "
                    f"after epoch 1  ({secs:.0f}s; {cached})",
                    flush=True,
                )
    print("\n| app | training canvases | pipeline | peak RSS (MB) | ms / step after epoch 1 | train cache |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['app']} | {r['count']} | {r['mode']} | {r['rss_mb']:.0f} | {r['ms_per_step']:.0f} | "
            f"{'file' if 'file cache' in r['cache'] else 'memory'} |"
        )
    lo, hi = min(args.counts), max(args.counts)
    for app in args.apps:
        by = {(r["count"], r["mode"]): r for r in rows if r["app"] == app}
        if (lo, "streamed") in by and (hi, "streamed") in by and lo != hi:
            print(
                f"{app}: memory at {hi} / {lo} canvases (streamed): "
                f"{by[hi, 'streamed']['rss_mb'] / by[lo, 'streamed']['rss_mb']:.2f}x (goal <= 1.3x)"
            )
        if (hi, "in memory") in by:
            print(
                f"{app}: step time streamed / in memory at {hi}: "
                f"{by[hi, 'streamed']['ms_per_step'] / by[hi, 'in memory']['ms_per_step']:.2f}x (goal <= 1.10x); "
                f"memory {by[hi, 'streamed']['rss_mb'] / by[hi, 'in memory']['rss_mb']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
