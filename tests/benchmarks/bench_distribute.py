"""Throughput of the distribution strategies on this machine (not a test).

    python tests/benchmarks/bench_distribute.py [--epochs 3]

Trains the text classifier (bow, embedded corpus, global batch 64) under
``--strategy default``, ``mirrored --devices 2`` (two logical CPU devices) and
``multi-worker`` with two local worker processes, each in its own process(es),
and prints examples/s from the driver's own "trained epochs ... in Ns" line.
On one 2-core machine these figures show the cost of the machinery (all-reduce,
rebatching, two processes sharing two cores), not a speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile


def run(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "edgesuite", "train", "text-classification", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def examples_per_s(out: str) -> float:
    n = int(re.search(r"data: (\d+) training examples", out).group(1))
    first, last, secs = map(int, re.search(r"trained epochs (\d+)-(\d+) in (\d+)s", out).groups())
    return n * (last - first + 1) / max(secs, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    a = p.parse_args()
    out_root = tempfile.mkdtemp(prefix="bench-dist-")
    common = [
        "--model",
        "bow",
        "--epochs",
        str(a.epochs),
        "--batch-size",
        "64",
        "--early-stopping",
        "0",
        "--out",
        out_root,
    ]
    rows = {}
    for name, extra in (
        ("default", ["--strategy", "default"]),
        ("mirrored x2 logical CPUs", ["--strategy", "mirrored", "--devices", "2"]),
    ):
        proc = run([*common, *extra, "--name", name.split()[0]])
        out, _ = proc.communicate()
        rows[name] = examples_per_s(out) if proc.returncode == 0 else float("nan")
    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    workers = [f"127.0.0.1:{q}" for q in ports]
    procs = [
        run(
            [*common, "--strategy", "multi-worker", "--name", "mw"],
            {"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})},
        )
        for i in range(2)
    ]
    outs = [pr.communicate()[0] for pr in procs]
    rows["multi-worker x2 processes"] = (
        examples_per_s(outs[0]) if all(pr.returncode == 0 for pr in procs) else float("nan")
    )
    base = rows["default"]
    print(f"\n{os.cpu_count()} CPU cores; text bow, global batch 64, {a.epochs} epochs\n")
    print("| strategy | examples/s | x default |\n|---|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {v:.0f} | {v / base:.2f} |")


if __name__ == "__main__":
    main()
