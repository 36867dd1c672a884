"""The first epoch of a short run with the optimizer's slots made before ``fit`` against Keras' own way (made inside
the first trace of the train step, which TensorFlow then traces a second time). Not a test.

    python tests/benchmarks/bench_first_epoch.py               # 3 rounds, image classification and detection
    python tests/benchmarks/bench_first_epoch.py --rounds 5 --tasks detection

Each measurement is a fresh ``edgesuite train`` process (tracing is per process); the two ways alternate and the
order rotates each round. Printed per run: the training seconds the run logs (``trained epochs 1-1 in Ns``, whole
seconds) and the process's wall time; then medians and the median of each round's ratio.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_summary

ROOT = Path(__file__).resolve().parents[2]
# the way Keras does it: the driver's pre-build turned into nothing
RUNNER = (
    "import sys\n"
    "import edgesuite.common.training as t\n"
    "if sys.argv[1] == 'keras':\n"
    "    t.build_training_state = lambda *a, **k: None\n"
    "from edgesuite.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def _commands(work: Path) -> dict[str, list[str]]:
    sys.path.insert(0, str(ROOT))
    from tests.conftest import write_class_folders

    folder = write_class_folders(work / "tiny", per_class=40)
    common = ["--epochs", "1", "--precision", "float32", "--seed", "1", "--out", str(work / "runs")]
    return {
        "image-classification": ["train", "image-classification", "--data", str(folder), "--batch-size", "16",
                                 "--augment", "none", "--tta", "none", *common],
        "detection": ["train", "object-detection", "--canvas-count", "160", "--image-size", "32", "--width", "0.25",
                      "--batch-size", "16", *common],
    }  # fmt: skip


def _one(way: str, args: list[str]) -> tuple[float, float]:
    t0 = time.time()
    done = subprocess.run([sys.executable, "-c", RUNNER, way, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.time() - t0
    found = re.search(r"trained epochs 1-1 in (\d+)s", done.stdout)
    if done.returncode or not found:
        raise SystemExit(f"{way}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return float(found.group(1)), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", default="image-classification,detection")
    args = ap.parse_args()
    print(cpu_summary())
    with tempfile.TemporaryDirectory() as tmp:
        commands = _commands(Path(tmp))
        for task in args.tasks.split(","):
            rows = {"keras": [], "built before fit": []}
            for r in range(args.rounds):
                order = list(rows) if r % 2 == 0 else list(rows)[::-1]
                for way in order:
                    seconds, wall = _one("keras" if way == "keras" else "edgesuite", commands[task])
                    rows[way].append((seconds, wall))
                    print(f"{task} round {r + 1} {way}: training {seconds:.0f} s, wall {wall:.1f} s")
            print(f"\n{task}: median training s / wall s over {args.rounds} rounds")
            for way, got in rows.items():
                seconds, wall = statistics.median(t for t, _ in got), statistics.median(w for _, w in got)
                print(f"  {way:18s} {seconds:5.0f} {wall:7.1f}")
            ratios = [a[1] / b[1] for a, b in zip(rows["built before fit"], rows["keras"])]
            spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
            print(f"  wall ratio built/keras: median {statistics.median(ratios):.2f} ({spread})\n")


if __name__ == "__main__":
    main()
