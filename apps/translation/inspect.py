"""Translation: its sentence pairs for ``edgesuite data check``, their statistics and the cleaned copy.

An item is a pair; exact duplicates are the same pair, near-duplicates the same pair once both sides are
normalised (case, punctuation, spaces). Statistics: lengths and the target / source length ratio, with pairs
far outside the usual ratio (a misaligned line) and untranslated pairs (both sides the same) as findings.
Pairs have no class, so there are no label errors to find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesuite.apps.translation import data as trdata
from edgesuite.common import datacheck as dc

RATIO_FAR = 3.0  # a pair whose length ratio is this many times above or below the median ratio: likely misaligned


def _parts(splits):
    return [(name, part) for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
            if part is not None and len(part)]


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    splits = trdata.load_splits(cfg)
    items, findings, ratios, lengths = [], [], {}, {}
    for split, part in _parts(splits):
        r, n = [], []
        for i, (src, tgt, where) in enumerate(zip(part.sources, part.targets, part.where)):
            near = dc.normalise_text(src) + "\t" + dc.normalise_text(tgt)
            items.append(dc.Item(where, split, None, dc.digest_bytes(f"{src}\t{tgt}".encode("utf-8", "replace")),
                                 near, f"{src}  →  {tgt}", i))
            if dc.normalise_text(src) == dc.normalise_text(tgt):
                findings.append(dc.Finding("untranslated", [where], f"source and target are the same: {src[:80]!r}",
                                           [split], thumbs=[f"{src}  →  {tgt}"]))
            r.append(max(1, len(tgt.split())) / max(1, len(src.split())))
            n.append(len(src.split()))
        ratios[split], lengths[split] = np.array(r), np.array(n)
    median = float(np.median(np.concatenate(list(ratios.values()))))
    for it, ratio in zip(items, np.concatenate(list(ratios.values()))):
        if ratio > median * RATIO_FAR or ratio < median / RATIO_FAR:
            findings.append(dc.Finding("length-ratio", [it.key], f"target/source words {ratio:.2f} (median "
                                       f"{median:.2f}): misaligned?", [it.split], thumbs=[it.thumb]))
    far = sum(1 for f in findings if f.kind == "length-ratio")
    section = dc.Section("Lengths and ratios", [
        "Source lengths in words: " + "; ".join(f"{s} median {int(np.median(v))}, longest {int(v.max())}"
                                                for s, v in lengths.items()),
        f"Target / source word ratio: median {median:.2f}; {far} pairs beyond {RATIO_FAR:g}x of it (listed as "
        f"length-ratio); {sum(1 for f in findings if f.kind == 'untranslated')} untranslated pairs.",
        "Sentence groups (chapters of the named set) go to one split whole, as the run splits them."],
        [dc.histogram_plot({s: np.log2(v) for s, v in ratios.items()}, plots / "length_ratio.png",
                           "log2(target words / source words)", "log2 ratio")],
        {"median_ratio": median, "source_lengths": {s: v.tolist() for s, v in lengths.items()}})
    return dc.Inspection(splits.data_name, items, None, [section], findings, splits=splits,
                         label_errors_skipped="Sentence pairs have no class: no label errors to look for.")


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/pairs.tsv`` with the source and target in the columns ``--source-column`` / ``--target-column``
    name; ``--data out/pairs.tsv`` reads it. A TSV has no sentence groups: its pairs are split one by one."""
    width = max(cfg.source_column, cfg.target_column) + 1
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pairs.tsv", "w", encoding="utf-8") as f:
        for split, part in _parts(found.splits):
            for i in dc.kept(part, split, dropped):
                row = [""] * width
                row[cfg.source_column], row[cfg.target_column] = part.sources[i], part.targets[i]
                f.write("\t".join(row) + "\n")
