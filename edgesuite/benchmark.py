"""``edgesuite benchmark RUN_DIR``: per format size, task metric, batch-1 latency and throughput.

Each (format, threads) pair is timed in its own process (``python -m
edgesuite.benchmark --worker``) so that one runtime's thread pools do not
colour another's figures; the Keras model called directly is the reference
row. A format that fails to load shows as failed instead of stopping the run.
It sits in the root package, beside ``edgesuite.load``, because it times each
file through its app's codec (the registry), which ``export/`` does not see.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.export.formats import parse_formats


def time_file(path: str, threads: int | None, samples: int, warmup: int = 5) -> dict:
    """Batch-1 latencies of one file on the task's example input, its preprocessing included.

    Images: random uint8 pixels. Text: a raw sentence; the formats that take token
    ids pay for tokenizing it, as a user calling ``edgesuite.load(...).predict`` does.
    Translation: one greedy translation of a sentence, in the graph's loop or in
    the numpy loop around the step model.
    """
    from edgesuite.apps import get_codec
    from edgesuite.export.runtime import open_runtime, read_metadata, run_inputs

    meta = read_metadata(path)
    codec = get_codec(meta["task"])
    rt = open_runtime(path, threads=threads)
    example = codec.example_input(meta)

    def once():  # a translator: one whole greedy translation, its decoding loop included
        run_inputs(codec, rt, example, meta)

    for _ in range(warmup):
        once()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        once()
        times.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}


def _worker(path: str, threads: int, samples: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if threads == 1:  # TensorFlow reads these at start-up; LiteRT and onnxruntime take threads directly
        env.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "edgesuite.benchmark", "--worker", path, str(threads), str(samples)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if proc.returncode:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RuntimeError(lines[-1] if lines else f"exit {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _missing(row: dict, note, run_path) -> str:
    """The status of a format whose file is not there: failed in the export, or never asked for."""
    if row.get("status") == "failed":
        return f"failed in the export: {note}" if note else "failed in the export"
    return f"not exported (edgesuite export {run_path} --formats {row['format']})"


def _read_report(path: Path, run_path) -> dict:
    """export_report.json with the keys the benchmark reads; a damaged one names the file."""
    from edgesuite.common.runs import read_json_dict

    remedy = f"export the run again (edgesuite export {run_path}) to write it"
    report = read_json_dict(path, remedy)
    rows = report.get("formats")
    if not (isinstance(rows, list) and all(isinstance(r, dict) and isinstance(r.get("format"), str) for r in rows)):
        raise UserInputError(f"{path}: no list of format rows under 'formats'; {remedy}")
    for key, kind in (("task", str), ("metric_name", str), ("reference_metric", (int, float))):
        if not isinstance(report.get(key), kind) or isinstance(report.get(key), bool):
            raise UserInputError(f"{path}: no valid '{key}'; {remedy}")
    return report


def benchmark_run(run_path: str, formats: str = "all", samples: int = 50, log=say) -> dict:
    from edgesuite.api import Run
    from edgesuite.export.runtime import read_metadata
    from edgesuite.export.verify import size_mb, table

    run = Run.open(run_path)
    export_dir = run.path / "export"
    report_path = export_dir / "export_report.json"
    if not report_path.exists():
        raise UserInputError(f"{run.path}: nothing exported yet; run `edgesuite export {run.path}` first")
    report = _read_report(report_path, run.path)
    by_name = {r["format"]: r for r in report["formats"]}
    rows = [
        {"format": "keras (reference)", "path": str(export_dir / "model.keras"), "metric": report["reference_metric"]}
    ]
    for fmt in parse_formats(formats):
        if fmt.name == "keras":
            continue
        r = by_name.get(fmt.name, {})
        rows.append(
            {
                "format": fmt.name,
                "path": str(export_dir / fmt.filename),
                "metric": r.get("metric"),
                "status": r.get("status", "not exported"),
                "note": r.get("note"),
            }
        )
    cpu = os.cpu_count() or 1
    for row in rows:
        path = Path(row["path"])
        note = row.pop("note", None)
        if row.get("status") == "skipped":  # left out on purpose by the export, which said why
            row["status"] = f"skipped: {note}" if note else "skipped"
            continue
        if not path.exists():
            row["status"] = (
                _missing(row, note, run.path)
                if row["format"] != "keras (reference)"
                else "not timed: the export has no model.keras (add keras to --formats for the reference)"
            )
            continue
        row["size_mb"] = size_mb(path)
        if path.suffix == ".mlpackage" and sys.platform != "darwin":
            row["status"] = "not timed: Core ML predicts only on macOS"
            continue
        if row["format"].startswith("mediapipe"):
            row["status"] = "not timed: the MediaPipe Task's own inputs and outputs (edgesuite does not run it)"
            continue
        read_metadata(path)  # a damaged or foreign metadata.json is the user's to fix: one error line, not a row
        try:
            one = _worker(str(path), 1, samples)
            allt = _worker(str(path), cpu, samples)
        except Exception as exc:
            row["status"] = f"failed: {str(exc)[:200]}"
            continue
        row.update(
            status=row.get("status", "ok"),
            median_ms_1t=one["median_ms"],
            p90_ms_1t=one["p90_ms"],
            median_ms=allt["median_ms"],
            p90_ms=allt["p90_ms"],
            throughput=1e3 / allt["median_ms"],
        )
        log(f"{row['format']}: {allt['median_ms']:.3f} ms (1 thread {one['median_ms']:.3f} ms)")
    ref = rows[0].get("median_ms")
    for row in rows:
        if ref and row.get("median_ms"):
            row["latency_vs_keras"] = row["median_ms"] / ref
    columns = [
        ("format", "format", "{}"),
        ("status", "status", "{}"),
        ("size_mb", "size MB", "{:.3f}"),
        ("metric", report["metric_name"], "{:.4f}"),
        ("median_ms_1t", "p50 ms 1 thr", "{:.3f}"),
        ("p90_ms_1t", "p90 ms 1 thr", "{:.3f}"),
        ("median_ms", f"p50 ms {cpu} thr", "{:.3f}"),
        ("p90_ms", f"p90 ms {cpu} thr", "{:.3f}"),
        ("throughput", "inputs/s", "{:.1f}"),
        ("latency_vs_keras", "x keras", "{:.3f}"),
    ]
    text = table(rows, report["metric_name"], columns)
    result = {"task": report["task"], "source_run": str(run.path), "samples": samples, "threads": cpu, "rows": rows}
    (export_dir / "benchmark.json").write_text(json.dumps(result, indent=2))
    (export_dir / "benchmark.md").write_text(
        f"# Benchmark: {report['task']} ({run.path})\n\n"
        f"Batch-1 latency over {samples} runs after 5 warm-up runs.\n\n{text}\n"
    )
    log(text)
    log(f"saved: {export_dir / 'benchmark.md'}")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        print(json.dumps(time_file(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
