"""Translation on small parallel sets, default flags, as a new user would run it (not a test).

    python tests/benchmarks/bench_translation_small.py --out /tmp/trsmall                  # every set
    python tests/benchmarks/bench_translation_small.py --out /tmp/trsmall --sets gettext-de-en --budget-min 20
    python tests/benchmarks/bench_translation_small.py --out /tmp/trsmall --flags "--vocab-size 4000"  # a variant

Sets, built on this machine from installed packages (nothing downloaded):

- ``verses-en-es``: ``--verses`` pairs (4,000 by default) of the embedded KJV/RV1909 verses, whole chapters
  in order (the package's own data);
- ``gettext-de-en``: German -> English user-interface strings from the compiled gettext catalogues Debian
  packages install (``/usr/share/locale/de/LC_MESSAGES/*.mo``: msgstr -> msgid), one line each, 3 to 30
  words, duplicates of a source dropped, ``--pairs`` (14,000) drawn with a fixed seed. Names, numbers, paths
  and ``%s`` placeholders pass through in the references, as in the issue's set.

Each set trains with ``edgesuite train translation --data SET.tsv --time-budget B`` and the flags of
``--flags`` (none: the defaults); the table gives test BLEU / chrF (greedy, and beam 4), the copy baseline
(the source as it is), the word-for-word baseline, the share of outputs with a token repeated more than 3 times
in a row, the share of names and numbers carried through (``copy_recall``), epochs and training minutes.
Writes ``bench_translation_small.json`` under --out.
"""

from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SETS = ("verses-en-es", "gettext-de-en")


def verses(count: int) -> list[tuple[str, str]]:
    from edgesuite.common.datasets import bible_en_es as bible

    out = []
    with bible.open_text() as f:
        for line in f:
            _, en, es = line.rstrip("\n").split("\t")
            out.append((en, es))
            if len(out) == count:
                break
    return out


def gettext_pairs(lang: str, count: int, seed: int = 0) -> tuple[list[tuple[str, str]], int]:
    """(translation in ``lang``, English original) pairs from the installed catalogues, and how many files."""
    import gettext

    files = sorted(glob.glob(f"/usr/share/locale/{lang}/LC_MESSAGES/*.mo"))
    seen, out = set(), []
    for path in files:
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except Exception:  # a catalogue Python's reader does not take: leave it out
            continue
        for en, tr in catalog.items():
            if not isinstance(en, str) or not isinstance(tr, str) or "\n" in en + tr or "\t" in en + tr:
                continue
            en, tr = " ".join(en.split()), " ".join(tr.split())
            if not (3 <= len(en.split()) <= 30 and 3 <= len(tr.split()) <= 30) or tr in seen or tr == en:
                continue
            seen.add(tr)
            out.append((tr, en))
    order = np.random.default_rng(seed).permutation(len(out))[:count]
    return [out[i] for i in sorted(order)], len(files)


def build(name: str, folder: Path, args) -> tuple[Path, dict]:
    if name == "verses-en-es":
        rows, about = verses(args.verses), {"source": "embedded KJV/RV1909 verses, in order"}
    else:
        rows, files = gettext_pairs("de", args.pairs)
        about = {"source": f"gettext catalogues of installed packages: {files} files under /usr/share/locale/de"}
    path = folder / f"{name}.tsv"
    path.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    about.update(
        pairs=len(rows),
        source_words=sum(len(s.split()) for s, _ in rows),
        words_per_line=round(float(np.mean([len(s.split()) for s, _ in rows])), 1),
    )
    return path, about


def train(name: str, data: Path, out: Path, budget: float, flags: list[str]) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "edgesuite",
        "train",
        "translation",
        "--data",
        str(data),
        "--time-budget",
        str(budget),
        "--out",
        str(out),
        "--name",
        name,
        *flags,
    ]
    t0 = time.time()
    log = out / f"{name}.log"
    with open(log, "w") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
    run = out / "translation" / name
    if code != 0 or not (run / "metrics.json").exists():
        return {"status": f"failed ({code}); see {log}"}
    m = json.loads((run / "metrics.json").read_text())
    history = (run / "history.csv").read_text().splitlines()
    return {
        "status": "ok",
        "minutes": round((time.time() - t0) / 60, 1),
        "epochs": len(history) - 1,
        **{
            k: m.get(k)
            for k in (
                "bleu",
                "chrf",
                "bleu_beam4",
                "chrf_beam4",
                "copy_bleu",
                "copy_chrf",
                "repeat_share",
                "copy_recall",
                "test_pairs",
            )
        },
        "baseline_chrf": (m.get("baseline") or {}).get("chrf"),
        "examples": m.get("examples", [])[:3],
        "log": str(log),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    ap.add_argument("--budget-min", type=float, default=20.0, help="--time-budget of each training run")
    ap.add_argument("--verses", type=int, default=4000)
    ap.add_argument("--pairs", type=int, default=14000)
    ap.add_argument("--flags", default="", help="extra train flags (a variant against the defaults)")
    ap.add_argument("--tag", default="default", help="name of this variant in the runs and the JSON")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in args.sets:
        data, about = build(name, out, args)
        print(f"{name}: {about}", flush=True)
        results[name] = {**about, **train(f"{name}-{args.tag}", data, out, args.budget_min, args.flags.split())}
        r = results[name]
        print(json.dumps({k: v for k, v in r.items() if k != "examples"}), flush=True)
    path = out / f"bench_translation_small-{args.tag}.json"
    path.write_text(json.dumps({"flags": args.flags, "budget_min": args.budget_min, "results": results}, indent=1))
    print(
        "| set | pairs | BLEU | chrF | beam-4 BLEU | copy chrF | word-for-word chrF | repeats > 3 | names kept "
        "| epochs | minutes |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    f = lambda v, d=2: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    for name, r in results.items():
        print(
            f"| {name} | {r['pairs']} | {f(r.get('bleu'))} | {f(r.get('chrf'))} | {f(r.get('bleu_beam4'))} | "
            f"{f(r.get('copy_chrf'))} | {f(r.get('baseline_chrf'))} | {f(r.get('repeat_share'), 3)} | "
            f"{f(r.get('copy_recall'))} | {r.get('epochs', '-')} | {r.get('minutes', '-')} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
