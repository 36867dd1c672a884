"""The web page's speed in headless Chromium beside LiteRT's and onnxruntime's in Python, per app.

    python tests/benchmarks/bench_web.py RUN_DIR... [--samples 50]

Each run must have been exported with ``--formats tflite,web`` (``edgesuite export RUN --formats tflite,web``).
For each app, on the codec's example input (one image or sentence; a translator: one whole greedy
translation):

- browser: ONNX Runtime Web (wasm, one thread) in Debian's headless Chromium on ``export/web/``: the first
  result counted from the page's start (wasm and model loading included), then the median of ``--samples``
  batch-1 predictions through the page's own code (decoding included);
- LiteRT: ``model_float32.tflite`` through ``edgesuite.load``'s runtime and codec, one thread: the first result
  from opening the file, then the median batch-1 latency;
- onnxruntime: the page's own ``model.onnx`` in Python, one thread, the same way.

Prints one row per app and the CPU it ran on.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def python_timing(path: Path, codec, meta: dict, example, samples: int) -> dict:
    from edgesuite.export.runtime import open_runtime, run_inputs

    t0 = time.perf_counter()
    rt = open_runtime(path, threads=1)
    run_inputs(codec, rt, example, meta)
    first = (time.perf_counter() - t0) * 1e3
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        run_inputs(codec, rt, example, meta)
        times.append((time.perf_counter() - t) * 1e3)
    return {"first_ms": first, "median_ms": float(np.median(times))}


def browser_timing(page: Path, meta: dict, example, samples: int) -> dict:
    from edgesuite.export import browser, web

    paths = browser.chromium_paths()
    if isinstance(paths, str):
        raise SystemExit(f"no browser: {paths}")
    inputs = web._inputs_json(example, meta, 0)
    with browser.serving(page, {web.CHECK_PATH: inputs}) as url, browser.headless_chromium(paths) as driver:
        found = browser.run_page(driver, f"{url}index.html?check={web.CHECK_PATH}&repeat={samples}")
    if "error" in found:
        raise SystemExit(f"{page}: {found['error']}")
    return {
        "first_ms": found["first_result_ms"],
        "load_ms": found["load_ms"],
        "median_ms": float(np.median(found["latency_ms"])),
    }


def main() -> None:
    from benchlib import cpu_summary

    from edgesuite.apps import get_codec
    from edgesuite.export import browser
    from edgesuite.export.runtime import read_metadata

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    paths = browser.chromium_paths()
    print(f"CPU: {cpu_summary()}; {browser.chromium_version(paths[0]) if not isinstance(paths, str) else paths}")
    print(
        "| app | model.onnx MB | browser first result ms (load ms) | browser median ms | LiteRT first ms | "
        "LiteRT median ms | onnxruntime median ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        export = run / "export"
        meta = read_metadata(export / "web" / "model.onnx")
        codec = get_codec(meta["task"])
        example = codec.example_input(meta)
        page = browser_timing(export / "web", meta, example, args.samples)
        lite = (
            python_timing(export / "model_float32.tflite", codec, meta, example, args.samples)
            if (export / "model_float32.tflite").exists()
            else None
        )
        onnx = python_timing(export / "web" / "model.onnx", codec, meta, example, args.samples)
        size = (export / "web" / "model.onnx").stat().st_size / 1e6
        lite_cells = f"{lite['first_ms']:.0f} | {lite['median_ms']:.2f}" if lite else "not exported | "
        print(
            f"| {meta['task']} | {size:.2f} | {page['first_ms']:.0f} ({page['load_ms']:.0f}) | "
            f"{page['median_ms']:.2f} | {lite_cells} | {onnx['median_ms']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
