"""Image-classification figures, measured side by side in one run (not a test).

    python tests/benchmarks/bench_image_classification.py              # throughput + pipeline cost
    python tests/benchmarks/bench_image_classification.py --full       # + accuracy on full Fashion-MNIST (long)

1. training throughput (img/s): --precision auto against float32 (and explicit
   mixed_bfloat16), same model, same data, each in its own process;
2. input-pipeline cost: step time with the full augmentation pipeline against
   the same model fed cached, already-augmented tensors;
3. (--full) accuracy of the default recipe trained on the full 60,000 images,
   tested on the official 10,000, within a wall-clock budget.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _setup(precision: str, augment: str, batch_size: int):
    import keras

    from edgesuite.apps import get_task
    from edgesuite.apps.image_classification.config import Config
    from edgesuite.common import precision as prec
    from edgesuite.common.training import _compile

    cfg = Config(precision=precision, augment=augment, batch_size=batch_size)
    keras.utils.set_random_seed(0)
    policy = prec.apply(cfg.precision, log=lambda m: None)
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
    run = train("image-classification", data="fashion-mnist", out="saved_models/benchmarks",
                epochs=int(os.environ.get("BENCH_FULL_EPOCHS", "5")), batch_size=128)
    took = time.time() - t0
    m = run.metrics
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "minutes": took / 60,
            "within_budget": took <= budget_s, "run": str(run.path)}


def _spawn(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"worker {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40, help="timed training steps per measurement")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--full", action="store_true", help="also train on full Fashion-MNIST (takes ~15 min here)")
    p.add_argument("--budget-min", type=float, default=15.0)
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        kind, *rest = a.worker
        result = {"throughput": lambda: worker_throughput(rest[0], a.steps, a.batch_size),
                  "pipeline": lambda: worker_pipeline(a.steps, a.batch_size, rest[0]),
                  "full": lambda: worker_full(a.budget_min * 60)}[kind]()
        print(json.dumps(result))
        return

    rows = [_spawn("throughput", prec) for prec in ("float32", "auto", "mixed_bfloat16")]
    base = rows[0]["img_per_s"]
    print("\n1. training throughput (batch %d, %d timed steps)" % (a.batch_size, a.steps))
    print(f"   {'--precision':<16}{'policy':<16}{'img/s':>8}{'x float32':>11}")
    for r in rows:
        print(f"   {r['precision']:<16}{r['policy']:<16}{r['img_per_s']:>8.1f}{r['img_per_s'] / base:>10.2f}x")
    pipe = [_spawn("pipeline", spec) for spec in ("default", HEAVY_AUGMENT)]
    print("\n2. input-pipeline cost: live augmentation against cached pre-augmented tensors (goal <= 1.15x)")
    for r in pipe:
        print(f"   {r['augment']:<58} {r['augmented_step_ms']:7.1f} vs {r['cached_step_ms']:7.1f} ms/step: "
              f"{r['ratio']:.3f}x")
    results = {"throughput": rows, "pipeline": pipe}
    if a.full:
        full = _spawn("full")
        print(f"\n3. full Fashion-MNIST: test accuracy {full['accuracy']:.4f} (macro F1 {full['macro_f1']:.4f}) "
              f"in {full['minutes']:.1f} min (budget {a.budget_min} min: {'ok' if full['within_budget'] else 'over'})")
        results["full"] = full
    print("\n" + json.dumps(results))


if __name__ == "__main__":
    main()
