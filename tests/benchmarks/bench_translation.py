"""Translation figures, measured in one run (not a test).

    python tests/benchmarks/bench_translation.py --out /tmp/trbench                 # all three parts
    python tests/benchmarks/bench_translation.py --throughput-only --out /tmp/trbench
    python tests/benchmarks/bench_translation.py --run saved_models/translation/<run> --out DIR   # reuse a run

1. training throughput (target tokens/s) of the default model and pipeline:
   --precision auto against float32 (and mixed_bfloat16), and the XLA-compiled
   step (the default) against plain graph mode, each in its own process;
2. the default recipe (``edgesuite train translation`` with no flags but --out)
   trained under a wall-clock budget (``--budget-min``, 30 by default, passed as the
   driver's ``--time-budget``), then BLEU and chrF (sacrebleu) on the
   held-out test chapters, greedy and beam 4;
3. every export format: status, size, BLEU against the references, exact match
   with the Keras model's translations, and the latency of one sentence's greedy
   translation (``edgesuite benchmark``; the decoding loop included).

Writes ``bench_translation.json`` under --out and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import export_and_time, format_rows, print_format_table, set_process_policy, spawn_json, train_within


def tokens_per_second(precision: str, jit: bool, steps: int, warmup: int) -> dict:
    """Target tokens/s of training steps on the default data and model (call in a fresh process).

    Batches differ in length (grouped by length, 16..96 tokens), and XLA compiles
    once per length: the warm-up steps see the common lengths, and a timed step
    slower than 3x the median (a compile) is left out of the sum, and counted.
    """
    import itertools

    import keras

    from edgesuite.apps import get_task
    from edgesuite.common.training import build_optimizer

    task = get_task("translation")
    cfg = task.Config(precision=precision)
    keras.utils.set_random_seed(0)
    policy = set_process_policy(cfg.precision)
    data = task.load_data(cfg)
    model = task.build_model(cfg, data.info)
    loss, metrics = task.loss_and_metrics(cfg, data.info)
    model.compile(optimizer=build_optimizer(cfg, 450), loss=loss, metrics=metrics, jit_compile=jit)
    batches = list(itertools.islice(iter(data.train.repeat()), warmup + steps))
    for b in batches[:warmup]:
        model.train_on_batch(*b)
    times, tokens = [], []
    for b in batches[warmup:]:
        t0 = time.perf_counter()
        model.train_on_batch(*b)
        times.append(time.perf_counter() - t0)
        tokens.append(float(np.asarray(b[2]).sum()))
    times, tokens = np.array(times), np.array(tokens)
    keep = times <= 3 * np.median(times)
    return {
        "precision": precision,
        "policy": policy,
        "xla": jit,
        "tokens_per_s": float(tokens[keep].sum() / times[keep].sum()),
        "step_ms": float(np.median(times) * 1e3),
        "compiles_left_out": int((~keep).sum()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the run and the JSON")
    ap.add_argument("--run", default=None, help="use this finished run instead of training one")
    ap.add_argument("--budget-min", type=float, default=30.0)
    ap.add_argument("--samples", type=int, default=10, help="timed translations per format")
    ap.add_argument("--steps", type=int, default=30, help="timed training steps per setting")
    ap.add_argument("--warmup", type=int, default=40, help="untimed training steps first (XLA compiles)")
    ap.add_argument("--throughput-only", action="store_true", help="measure part 1 only")
    ap.add_argument("--skip-throughput", action="store_true", help="parts 2 and 3 only")
    ap.add_argument(
        "--settings",
        default="float32:xla,auto:xla,float32:graph,mixed_bfloat16:xla",
        help="part 1: PRECISION:xla|graph settings, comma-separated, the first is the baseline "
        "(each process learns the vocabularies first: ~4 minutes apiece here)",
    )
    ap.add_argument("--worker", nargs=1, help=argparse.SUPPRESS)
    ap.add_argument("train_args", nargs="*", help="extra flags for the training run (after --)")
    args = ap.parse_args()
    if args.worker:
        precision, jit = args.worker[0].split(":")
        print(json.dumps(tokens_per_second(precision, jit == "xla", args.steps, args.warmup)))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result: dict = {}
    if not args.skip_throughput:
        flags = ("--steps", str(args.steps), "--warmup", str(args.warmup), "--out", str(out))
        # one process each (a data load and XLA compiles apiece: ~3 minutes); auto resolves to one of the others
        order = tuple(args.settings.split(","))
        runs = [spawn_json(__file__, w, *flags) for w in order]
        result["throughput"] = []
        for setting in dict.fromkeys(order):
            p, j = setting.split(":")
            mine = [r for r in runs if r["precision"] == p and r["xla"] == (j == "xla")]
            result["throughput"].append(
                {
                    **mine[0],
                    "tokens_per_s": float(np.median([r["tokens_per_s"] for r in mine])),
                    "each": [round(r["tokens_per_s"]) for r in mine],
                }
            )
        base = result["throughput"][0]["tokens_per_s"]
        print(f"\n1. training throughput (target tokens/s; {args.steps} timed steps after {args.warmup} warm-up steps)")
        for r in result["throughput"]:
            print(
                f"   {r['precision']:<16}{r['policy']:<16}{'XLA' if r['xla'] else 'graph':<7}"
                f"{r['tokens_per_s']:>8.0f} tok/s"
                f"{r['tokens_per_s'] / base:>7.2f}x {order[0]}   (runs: {r['each']})"
            )
        if args.throughput_only:
            (out / "bench_translation_throughput.json").write_text(json.dumps(result, indent=2))
            return 0
    if args.run:
        run, seconds = Path(args.run), None
    else:
        run, seconds = train_within("translation", out, args.budget_min * 60, args.train_args)
    metrics = json.loads((run / "metrics.json").read_text())
    history = (run / "history.csv").read_text().strip().splitlines()
    keys = (
        "bleu",
        "chrf",
        "bleu_beam4",
        "chrf_beam4",
        "val_token_accuracy",
        "test_pairs",
        "decode_ms_per_sentence",
        "decode_ms_per_sentence_beam4",
    )
    result["training"] = {
        "run": str(run),
        "seconds": seconds,
        "epochs": len(history) - 1,
        **{k: metrics.get(k) for k in keys},
    }
    report, timing = export_and_time(run, args.samples)
    result["formats"] = format_rows(report, timing, "bleu", "exact_match")
    for row, r in zip(result["formats"], report["formats"]):
        row["note"] = r.get("note", "")
    (out / "bench_translation.json").write_text(json.dumps(result, indent=2))
    t = result["training"]
    print(
        f"\n2. test BLEU {t['bleu']:.2f} / chrF {t['chrf']:.2f} greedy, BLEU {t['bleu_beam4'] or 0:.2f} / chrF "
        f"{t['chrf_beam4'] or 0:.2f} beam 4, on {t['test_pairs']} test verses; validation token accuracy "
        f"{t['val_token_accuracy']:.4f}; {t['epochs']} epochs"
        + (f" in {t['seconds'] / 60:.1f} min" if t["seconds"] else "")
    )
    print_format_table(result["formats"], "bleu", "exact_match", title="\n3. ", indent="   ")
    print(
        "   (latency: one greedy translation of an 11-word verse, decoding loop included)"
        f"\nsaved: {out / 'bench_translation.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
