"""Test-time mirror averaging (``--tta flip``, the CNN's default when training flips): what it buys, what it costs.

    python tests/benchmarks/bench_tta.py RUN [RUN ...] [--rounds 3]

Each RUN is a finished image-classification run, saved with the mirror average or without it: its trained
weights are what count. Beside it two run folders are written, ``<name>-plain`` and ``<name>-mirror``, holding
those weights saved as the plain CNN and as its mirror average. Each is evaluated on the run's held-out split
(``Run.evaluate``), exported to an int8 ``.tflite`` (``edgesuite export --formats tflite-int8``) and timed
(``edgesuite benchmark``: batch 1, one thread, median of 50 runs, one process per file), the two files
interleaved for ``--rounds`` rounds. Printed per run: held-out accuracy of both and the gain, the int8 files'
size, accuracy and median latency (the median over the rounds, and each round).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, int8_row  # noqa: E402


def variants(run: Path) -> dict[str, Path]:
    """``{"plain": folder, "mirror": folder}``: the run's weights saved both ways, as finished runs."""
    from edgesuite.api import Run
    from edgesuite.apps.image_classification.model import with_mirror_average

    source = Run.open(run)
    trained = source.load_model()
    plain = source.task.build_model(source.config, source.info)
    weights = {w.path: w for w in trained.weights}
    plain.set_weights([weights[w.path].numpy() for w in plain.weights])
    out = {}
    for kind, model in (("plain", plain), ("mirror", with_mirror_average(plain))):
        dest = run.with_name(f"{run.name}-{kind}")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(run, dest, ignore=shutil.ignore_patterns("export", "checkpoints", "tensorboard", "plots"))
        tta = "flip" if kind == "mirror" else "none"
        info = json.loads((dest / "info.json").read_text())
        (dest / "info.json").write_text(json.dumps({**info, "tta": tta}, indent=2))
        config = yaml.safe_load((dest / "config.yaml").read_text())
        (dest / "config.yaml").write_text(yaml.safe_dump({**config, "tta": tta, "name": dest.name}, sort_keys=False))
        model.save(dest / "model.keras")
        out[kind] = dest
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds of the two int8 files")
    args = ap.parse_args()
    from edgesuite.api import Run

    print(cpu_summary())
    print(
        "| run | held-out split | plain | mirror average | gain (points) | int8 MB plain / mirror | "
        "int8 accuracy plain / mirror | int8 ms plain / mirror (median; rounds) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in args.runs:
        folders = variants(run.resolve())
        acc = {k: Run.open(p).evaluate()["accuracy"] for k, p in folders.items()}
        rows: dict[str, list[dict]] = {k: [] for k in folders}
        for r in range(args.rounds):
            for kind in ("plain", "mirror") if r % 2 == 0 else ("mirror", "plain"):
                rows[kind].append(int8_row(folders[kind], export=r == 0))
        ms = {k: [row["ms"] for row in v] for k, v in rows.items()}
        size = {k: v[0]["size_mb"] for k, v in rows.items()}
        q = {k: v[0]["int8_metric"] for k, v in rows.items()}
        split = Run.open(folders["plain"]).metrics.get("split", "test")
        print(
            f"| {run.name} | {split} | {acc['plain']:.4f} | {acc['mirror']:.4f} | "
            f"{100 * (acc['mirror'] - acc['plain']):+.2f} | {size['plain']} / {size['mirror']} | "
            f"{q['plain']} / {q['mirror']} | {statistics.median(ms['plain']):.3f} / "
            f"{statistics.median(ms['mirror']):.3f} "
            f"({', '.join(f'{a:.3f}/{b:.3f}' for a, b in zip(ms['plain'], ms['mirror']))}) |",
            flush=True,
        )


if __name__ == "__main__":
    main()
