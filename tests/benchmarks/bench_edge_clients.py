"""Every app's exported files in every client a user runs them in: the app x client table.

    python tests/benchmarks/bench_edge_clients.py [--out DIR] [--board-python PATH] [--apps a,b]

Each app trains briefly on its embedded data (a few epochs: enough that the model is not a constant),
``edgesuite export --formats all`` writes and checks every format (LiteRT, MediaPipe Tasks, ONNX Runtime,
the Core ML spec: the export report's cells), then each export folder goes through the two probes the tests
use: ``tests/board_probe.py`` (``edgesuite.load`` / ``edgesuite predict`` of the int8 ``.tflite`` and the
``.onnx`` with TensorFlow refused at import, under ``--board-python``: CI's board venv, or this Python) and
``tests/keras_probe.py`` (``model.h5`` and ``model.keras`` in plain Keras, edgesuite never imported).
Prints one markdown table, a cell per app and client, each measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_summary, edgesuite

TESTS = Path(__file__).resolve().parents[1]

RECIPES = {  # small and quick, each on the app's embedded data
    "image-classification": ["--epochs", "3"],
    "text-classification": ["--model", "bow", "--epochs", "3"],
    "segmentation": ["--canvas-count", "400", "--image-size", "64", "--epochs", "4"],
    "object-detection": ["--canvas-count", "400", "--image-size", "64", "--epochs", "4"],
    "translation": [
        "--layers",
        "1",
        "--d-model",
        "64",
        "--heads",
        "2",
        "--ffn",
        "128",
        "--vocab-size",
        "800",
        "--epochs",
        "2",
        "--eval-samples",
        "50",
        "--beam-size",
        "1",
    ],
}
CLIENTS = {  # client: the export formats whose report cells it reads
    "LiteRT": ("tflite", "tflite-fp16", "tflite-dynamic", "tflite-int8"),
    "MediaPipe Tasks": ("tflite", "tflite-int8", "mediapipe", "mediapipe-int8"),
    "ONNX Runtime": ("onnx",),
    "Core ML spec": ("coreml",),
}


def translation_subset(out: Path, pairs: int) -> list[str]:
    """The first ``pairs`` embedded verse pairs as a TSV (the full corpus trains for many minutes)."""
    from edgesuite.common.datasets import bible_en_es as bible

    out.mkdir(parents=True, exist_ok=True)
    with bible.open_text() as f:
        rows = [line.rstrip("\n").split("\t") for line, _ in zip(f, range(pairs))]
    (out / "pairs.tsv").write_text("".join(f"{en}\t{es}\n" for _, en, es in rows), encoding="utf-8")
    return ["--data", str(out / "pairs.tsv")]


def report_cell(rows: dict, formats: tuple[str, ...], client: str) -> str:
    cells = []
    for name in formats:
        row = rows.get(name)
        if row is None:
            continue
        if client == "MediaPipe Tasks":
            cell = row.get("mediapipe") or ""
            if not cell or cell.startswith(("not needed", "not applicable")) or row["status"] == "skipped":
                continue  # the files a Task does not take are counted by the ones it does
            cells.append(f"{name}: {cell.split(':', 1)[0]}")
        else:
            cells.append(f"{name}: {row['status']}")
    return "; ".join(cells) or "n/a"


def board_cell(export: Path, python: str, inputs: list[str], work: Path) -> str:
    files = [str(export / f) for f in ("model_int8.tflite", "model.onnx")]
    work.mkdir(parents=True, exist_ok=True)
    (work / "request.json").write_text(json.dumps({"files": files, "inputs": inputs, "out": str(work)}))
    done = subprocess.run(
        [python, str(TESTS / "board_probe.py"), str(work / "request.json")],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=work,
    )
    if done.returncode:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    report = json.loads((work / "report.json").read_text())
    parts = []
    for f in files:
        entry = report["files"][f]
        parts.append(
            f"{Path(f).name}: "
            + (f"error {entry['error'][:80]}" if "error" in entry else f"ok {entry['first_prediction_s']:.2f} s")
        )
    if report["refused_modules_loaded"]:
        parts.append(f"imported {report['refused_modules_loaded']}")
    return "; ".join(parts)


def keras_cell(export: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(TESTS / "keras_probe.py"), str(export)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=export,
    )
    if done.returncode:
        return f"failed: {(done.stderr.strip().splitlines() or ['?'])[-1][:100]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return f".h5 + .keras ok (max diff {result['max_abs_diff']:.0e})"


def example_inputs(task: str, export: Path, work: Path) -> list[str]:
    """What a user holds: two image files of the model's size, or two texts."""
    import numpy as np
    from PIL import Image

    metadata = json.loads((export / "metadata.json").read_text())
    if metadata["input"]["dtype"] == "string":
        return ["a quietly moving film about two brothers", "In the beginning God created the heaven and the earth."]
    work.mkdir(parents=True, exist_ok=True)
    size, channels = metadata["input"]["shape"][0], metadata["input"]["shape"][-1]
    paths = []
    for i in range(2):
        pixels = np.random.default_rng(i).integers(0, 256, (size + 8 * i, size, channels), dtype=np.uint8)
        Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels).save(work / f"in{i}.png")
        paths.append(str(work / f"in{i}.png"))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="where the runs go (default: a temporary folder)")
    parser.add_argument(
        "--board-python",
        default=os.environ.get("EDGESUITE_BOARD_PYTHON", sys.executable),
        help="the Python of a board venv (numpy, Pillow, ai-edge-litert, onnxruntime, edgesuite "
        "--no-deps); default $EDGESUITE_BOARD_PYTHON or this Python",
    )
    parser.add_argument("--apps", default=",".join(RECIPES), help="comma-separated apps")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-edge-"))
    table = []
    for task in args.apps.split(","):
        extra = translation_subset(out / "data", 3000) if task == "translation" else []
        t0 = time.time()
        edgesuite("train", task, "--out", str(out), "--name", "edge", "--seed", "1", *RECIPES[task], *extra)
        run = out / task / "edge"
        trained = time.time() - t0
        edgesuite("export", str(run), "--formats", "all")
        export = run / "export"
        rows = {r["format"]: r for r in json.loads((export / "export_report.json").read_text())["formats"]}
        cells = {client: report_cell(rows, formats, client) for client, formats in CLIENTS.items()}
        cells["board venv (no TF)"] = board_cell(
            export, args.board_python, example_inputs(task, export, out / "in" / task), out / "board" / task
        )
        cells["plain Keras"] = keras_cell(export)
        table.append((task, cells, trained))
    print(f"\nhost: {cpu_summary()}; board Python: {args.board_python}")
    names = list(CLIENTS) + ["board venv (no TF)", "plain Keras"]
    print("| app | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for task, cells, _ in table:
        print(f"| {task} | " + " | ".join(cells[n] for n in names) + " |")


if __name__ == "__main__":
    main()
