"""Text-classification figures, measured side by side in one run (not a test).

    python tests/benchmarks/bench_text_classification.py                   # every model + baseline + export
    python tests/benchmarks/bench_text_classification.py --models bow     # some models only

On the embedded Rotten Tomatoes corpus with a fixed seeded, stratified 80/20
split (seed 0):
1. accuracy and macro F1 on the 20 % of each model (``--model bow|cnn|bilstm|
   transformer``, default recipe otherwise; the 80 % is split 90/10 into train
   and the validation set early stopping watches) and, in the same run, of a
   TF-IDF (word 1-2 grams) + logistic-regression baseline from scikit-learn
   fitted on the whole 80 %; training wall time of each;
2. per export format of the best model: size, accuracy, batch-1 latency on a
   raw string (``edgesuite export`` + ``edgesuite benchmark``).
Writes ``OUT/bench_text_classification.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def split_corpus(out_dir: Path, seed: int = 0) -> tuple[list, list]:
    import numpy as np

    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.data import load_splits
    from edgesuite.common.data import stratified_split

    s = load_splits(Config(val_fraction=0.0, test_fraction=0.0))  # every usable row, as the app reads them
    texts, labels = s.train.texts, np.array([s.class_names[i] for i in s.train.labels])
    rest, test = stratified_split(s.train.labels, (0.2,), seed)
    parts = {"train": rest, "test": test}
    for name, idx in parts.items():
        with open(out_dir / f"{name}.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows((texts[i], labels[i]) for i in idx)
    return ([texts[i] for i in rest], labels[rest]), ([texts[i] for i in test], labels[test])


def baseline(train, test) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline

    t0 = time.time()
    clf = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1), LogisticRegression(max_iter=2000, C=10.0)
    )
    clf.fit(*train)
    pred = clf.predict(test[0])
    return {
        "model": "tfidf+logreg (sklearn)",
        "accuracy": accuracy_score(test[1], pred),
        "macro_f1": f1_score(test[1], pred, average="macro"),
        "train_s": time.time() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="bow,cnn,bilstm,transformer")
    p.add_argument("--out", default="saved_models/bench-text")
    p.add_argument("--no-export", action="store_true")
    args = p.parse_args()

    import edgesuite
    from edgesuite.benchmark import benchmark_run

    work = Path(tempfile.mkdtemp(prefix="bench-text-"))
    train, test = split_corpus(work)
    rows = [baseline(train, test)]
    print(f"baseline: accuracy {rows[0]['accuracy']:.4f}  macro F1 {rows[0]['macro_f1']:.4f}")
    runs = {}
    for model in args.models.split(","):
        t0 = time.time()
        run = edgesuite.train(
            "text-classification",
            data=str(work),
            label_column="label",
            model=model,
            test_fraction=0.0,
            out=args.out,
            name=f"{model}-{time.strftime('%H%M%S')}",
            log=lambda m: None,
        )
        m = run.metrics
        rows.append(
            {
                "model": model,
                "accuracy": m["accuracy"],
                "macro_f1": m["macro_f1"],
                "train_s": time.time() - t0,
                "epochs": len((run.path / "history.csv").read_text().splitlines()) - 1,
            }
        )
        runs[model] = run
        print(f"{model}: accuracy {m['accuracy']:.4f}  macro F1 {m['macro_f1']:.4f}  in {rows[-1]['train_s']:.0f}s")
    print("\n| model | test accuracy | test macro F1 | train s |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['train_s']:.0f} |")
    result = {"split": "stratified 80/20, seed 0", "test_size": len(test[0]), "rows": rows}
    if runs and not args.no_export:
        best = max((r for r in rows if r["model"] in runs), key=lambda r: r["macro_f1"])["model"]
        print(f"\nexporting the best model ({best}) and timing every format on a raw string")
        report = runs[best].export(log=lambda m: None)
        result["export"] = report
        result["benchmark"] = benchmark_run(str(runs[best].path), samples=50)
    saved = Path(args.out) / "bench_text_classification.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result, indent=2, default=str))
    print(f"saved {saved}")


if __name__ == "__main__":
    main()
