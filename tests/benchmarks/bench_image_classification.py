"""Image-classification figures, measured side by side in one run (not a test).

    python tests/benchmarks/bench_image_classification.py              # throughput + pipeline cost
    python tests/benchmarks/bench_image_classification.py --rounds 7   # more rounds of the precision ratio
    python tests/benchmarks/bench_image_classification.py --full       # + accuracy on full Fashion-MNIST (long)

1. training throughput (img/s): --precision auto against float32 and explicit
   mixed_bfloat16, same model, same data, each measurement in its own process,
   interleaved over rounds (the order rotates each round, so a slow spell of the
   host falls on every policy alike); the figure is the median over rounds of
   each round's ratio to float32, with its spread (min-max), since one process
   against one other has read 2.0x and 1.0x minutes apart on the same host;
2. input-pipeline cost: step time with the full augmentation pipeline against
   the same model fed cached, already-augmented tensors;
3. (--full) accuracy of the default recipe trained on the full 60,000 images,
   tested on the official 10,000, within a wall-clock budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import cpu_summary, set_process_policy

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _setup(precision: str, augment: str, batch_size: int):
    import keras

    from edgesuite.apps import get_task
    from edgesuite.apps.image_classification.config import Config
    from edgesuite.common.training import _compile

    cfg = Config(precision=precision, augment=augment, batch_size=batch_size)
    keras.utils.set_random_seed(0)
    policy = set_process_policy(cfg.precision)
    task = get_task("image-classification")
    data = task.load_data(cfg)
    model = task.build_model(cfg, data.info)
    _compile(model, task, cfg, data.info, steps_per_epoch=100)
    return task, cfg, data, model, policy


def _time_fit(model, ds, steps: int, warmup: int) -> float:
    model.fit(ds.repeat(), steps_per_epoch=warmup, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(ds.repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - t0) / steps


def worker_throughput(precision: str, steps: int, batch_size: int) -> dict:
    _, cfg, data, model, policy = _setup(precision, "default", batch_size)
    step = _time_fit(model, data.train, steps, warmup=5)
    return {"precision": precision, "policy": policy, "img_per_s": batch_size / step, "step_ms": step * 1e3}


HEAVY_AUGMENT = "flip,translate=0.1,rotate=0.05,zoom=0.1,contrast=0.2,brightness=0.2"


def worker_pipeline(steps: int, batch_size: int, augment: str) -> dict:
    import tensorflow as tf

    _, cfg, data, model, _ = _setup("auto", augment, batch_size)
    live = _time_fit(model, data.train, steps, warmup=5)
    batches = list(data.train.take(steps + 5))
    x = tf.concat([b[0] for b in batches], 0)
    y = tf.concat([b[1] for b in batches], 0)
    cached = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).cache().prefetch(tf.data.AUTOTUNE)
    list(cached)  # fill the cache before timing
    pre = _time_fit(model, cached, steps, warmup=5)
    return {"augment": augment, "augmented_step_ms": live * 1e3, "cached_step_ms": pre * 1e3, "ratio": live / pre}


def worker_full(budget_s: float) -> dict:
    from edgesuite.api import train

    t0 = time.time()
    run = train(
        "image-classification",
        data="fashion-mnist",
        out="saved_models/benchmarks",
        epochs=int(os.environ.get("BENCH_FULL_EPOCHS", "5")),
        batch_size=128,
    )
    took = time.time() - t0
    m = run.metrics
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "minutes": took / 60,
        "within_budget": took <= budget_s,
        "run": str(run.path),
    }


def _spawn(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


PRECISIONS = ("float32", "auto", "mixed_bfloat16")


def precision_rounds(rounds: int) -> list[dict]:
    """Each round times every policy once, in an order rotated by one each round; per policy: the median
    img/s and its range, and the median and range of the round-by-round ratio to that round's float32."""
    seen = {p: [] for p in PRECISIONS}
    for r in range(rounds):
        order = PRECISIONS[r % 3 :] + PRECISIONS[: r % 3]
        for prec in order:
            seen[prec].append(_spawn("throughput", prec))
    base = [m["img_per_s"] for m in seen["float32"]]
    rows = []
    for prec, runs in seen.items():
        speeds = [m["img_per_s"] for m in runs]
        ratios = [s / b for s, b in zip(speeds, base)]
        rows.append(
            {
                "precision": prec,
                "policy": runs[0]["policy"],
                "img_per_s": statistics.median(speeds),
                "img_per_s_min": min(speeds),
                "img_per_s_max": max(speeds),
                "ratio": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "rounds": runs,
            }
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40, help="timed training steps per measurement")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the three precision settings")
    p.add_argument("--full", action="store_true", help="also train on full Fashion-MNIST (takes ~15 min here)")
    p.add_argument("--budget-min", type=float, default=15.0)
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        kind, *rest = a.worker
        result = {
            "throughput": lambda: worker_throughput(rest[0], a.steps, a.batch_size),
            "pipeline": lambda: worker_pipeline(a.steps, a.batch_size, rest[0]),
            "full": lambda: worker_full(a.budget_min * 60),
        }[kind]()
        print(json.dumps(result))
        return

    print(f"host: {cpu_summary()}")
    rows = precision_rounds(a.rounds)
    print(f"\n1. training throughput (batch {a.batch_size}, {a.steps} timed steps, {a.rounds} interleaved rounds)")
    print(
        f"   {'--precision':<16}{'policy':<16}{'median img/s':>13}{'range':>18}{'x float32 (median)':>20}"
        f"{'ratio range':>16}"
    )
    for r in rows:
        print(
            f"   {r['precision']:<16}{r['policy']:<16}{r['img_per_s']:>13.1f}"
            f"{r['img_per_s_min']:>9.0f}-{r['img_per_s_max']:<8.0f}{r['ratio']:>19.2f}x"
            f"{r['ratio_min']:>9.2f}-{r['ratio_max']:.2f}x"
        )
    pipe = [_spawn("pipeline", spec) for spec in ("default", HEAVY_AUGMENT)]
    print("\n2. input-pipeline cost: live augmentation against cached pre-augmented tensors (goal <= 1.15x)")
    for r in pipe:
        print(
            f"   {r['augment']:<58} {r['augmented_step_ms']:7.1f} vs {r['cached_step_ms']:7.1f} ms/step: "
            f"{r['ratio']:.3f}x"
        )
    results = {"host": cpu_summary(), "throughput": rows, "pipeline": pipe}
    if a.full:
        full = _spawn("full")
        print(
            f"\n3. full Fashion-MNIST: test accuracy {full['accuracy']:.4f} (macro F1 {full['macro_f1']:.4f}) "
            f"in {full['minutes']:.1f} min (budget {a.budget_min} min: {'ok' if full['within_budget'] else 'over'})"
        )
        results["full"] = full
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
