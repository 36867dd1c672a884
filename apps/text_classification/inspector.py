"""Text classification: its items for ``edgesuite data check``, its statistics and its cleaned copy.

Near-duplicates are texts equal once normalised (NFKC, case-folded, punctuation and repeated spaces dropped).
The quick model for label errors is the app's own baseline: TF-IDF n-grams (``baseline``'s features) and a
logistic regression, its probabilities out of fold.
"""

from __future__ import annotations

import csv
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from edgesuite.apps.text_classification import data as tcdata
from edgesuite.common import datacheck as dc
from edgesuite.common.data import SkipLog

LENGTH_SHARE = 95  # the percentile of training lengths shown as what a fitted --max-length covers


def script_of(text: str) -> str:
    """The writing system most of a text's letters belong to (the first word of their Unicode names)."""
    names = Counter(unicodedata.name(ch, "UNKNOWN").split()[0] for ch in text[:2000] if ch.isalpha())
    return names.most_common(1)[0][0] if names else "none"


def _skipped_rows(cfg) -> list[tuple[str, str]]:
    """The rows the loader skips (empty text, no label, wrong field count), read again without --strict."""
    from edgesuite.apps.text_classification.config import NAMED_SETS

    skips = SkipLog("text rows", strict=False)
    if cfg.data in NAMED_SETS:
        tcdata._named(cfg.data, cfg, skips)
    else:
        path = Path(cfg.data)
        sources = tcdata._split_sources(path) if path.is_dir() else {}
        for p in sources.values() if sources else [path]:
            tcdata.read_any(p, cfg, skips)
    return skips.items


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    splits = tcdata.load_splits(cfg)
    names = splits.class_names
    items, texts = [], []
    for split, part in dc.split_parts(splits):
        for i, (text, label, where) in enumerate(zip(part.texts, part.labels, part.where)):
            items.append(
                dc.Item(
                    where,
                    split,
                    names[int(label)],
                    dc.digest_bytes(text.encode("utf-8", "replace")),
                    dc.normalise_text(text),
                    text,
                    i,
                )
            )
            texts.append(text)
    findings = [
        dc.Finding("empty-row" if "empty" in why else "skipped-row", [where], why) for where, why in _skipped_rows(cfg)
    ]
    sections = [_lengths(splits, plots), _scripts(items)]
    from edgesuite.apps.text_classification.baseline import _features

    features = _features(texts).fit_transform(texts)
    return dc.Inspection(
        splits.data_name,
        items,
        names,
        sections,
        findings,
        features=features,
        splits=splits,
        model="the text baseline (TF-IDF n-grams, logistic regression)",
    )


def _lengths(splits, plots: Path) -> dc.Section:
    spaceless = sum(1 for t in splits.train.texts[:2000] if " " not in t.strip()) > len(splits.train.texts[:2000]) / 2
    unit = "characters" if spaceless else "words"

    def size(t):
        return len(t) if spaceless else len(t.split())

    lengths = {split: np.array([size(t) for t in part.texts]) for split, part in dc.split_parts(splits)}
    train = lengths["train"]
    fitted = int(np.percentile(train, LENGTH_SHARE))
    lines = [
        f"Lengths in {unit}: "
        + "; ".join(
            f"{s} median {int(np.median(v))}, 95th percentile {int(np.percentile(v, 95))}, longest {int(v.max())}"
            for s, v in lengths.items()
        ),
        f"The recipe's --max-length 0 fits the sequence length to the training texts (about their {LENGTH_SHARE}th "
        f"percentile, here ~{fitted} {unit} before word pieces): {np.mean(train > fitted):.1%} of the training "
        "texts would be cut.",
    ]
    plot = dc.histogram_plot(lengths, plots / "text_lengths.png", "text lengths", unit, mark=fitted)
    return dc.Section(
        "Text lengths", lines, [plot], {"lengths": {s: v.tolist() for s, v in lengths.items()}, "fitted": fitted}
    )


def _scripts(items) -> dc.Section:
    counts = Counter(script_of(it.thumb) for it in items)
    lines = ["| script | texts |", "| --- | ---: |"] + [f"| {s} | {n} |" for s, n in counts.most_common()]
    return dc.Section("Scripts (writing systems)", lines, data={"scripts": dict(counts)})


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/train.csv``, ``val.csv``, ``test.csv`` with the columns ``--text-column`` and ``--label-column``
    name, which ``--data out`` reads with its splits as they are."""
    splits = found.splits
    out.mkdir(parents=True, exist_ok=True)
    for split, part in dc.split_parts(splits):
        with open(out / f"{split}.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow([cfg.text_column, cfg.label_column])
            for i in dc.kept(part, split, dropped):
                writer.writerow([part.texts[i], splits.class_names[int(part.labels[i])]])


def explain(
    model, predictor, inputs: list, save_dir: Path | None = None, target: str | None = None, box: int | None = None
) -> list[dict]:
    """Per-token attributions of each text to its top class (and to ``target``): word occlusion through any
    model or file (the fall of the class's probability when the word is left out), and with a run's Keras model
    integrated gradients on its word-piece embeddings as well (a model with an Embedding layer). One dict per
    text (``tokens``: (word, score) rows, ``pieces``: (word piece, score) rows or None); with ``save_dir``,
    ``explain.html`` colours the tokens."""
    from edgesuite.common import explain as cx
    from edgesuite.common.errors import UserInputError
    from edgesuite.common.text import encode

    meta = predictor.metadata
    names = meta["class_names"]
    if target is not None and target not in names:
        raise UserInputError(f"--target: {target!r} is not one of the model's classes ({', '.join(names)})")
    if box is not None:
        raise UserInputError("--box: only object detection explains a chosen box")
    texts = [str(t) for t in inputs]
    if not all(t.strip() for t in texts):
        raise UserInputError("explain: an empty text has no tokens to explain")

    def predict(batch):
        return np.asarray(predictor.predict_raw(list(batch)), np.float64)

    probs = predict(texts)
    out, page = [], []
    for text, p in zip(texts, probs):
        top = int(p.argmax())
        k = names.index(target) if target is not None else top
        tokens = cx.word_occlusion(predict, text, k)
        pieces = None
        if model is not None and "tokenizer" in meta:
            ids = encode([text], meta["tokenizer"])[0]
            scores = cx.integrated_gradients(model, ids, k)
            vocab = meta["tokenizer"]["vocab"]
            if scores is not None:
                pieces = [(vocab[i], float(s)) for i, s in zip(ids[: len(scores)], scores) if 0 < i < len(vocab)]
        shown = {
            "input": text,
            "label": names[top],
            "probability": float(p[top]),
            "explained": names[k],
            "tokens": tokens,
            "pieces": pieces,
            "method": "word occlusion" + (" and integrated gradients" if pieces else ""),
        }
        shown["text"] = f"{text[:60]!r}: {names[top]} ({p[top]:.3f}); for {names[k]}: {cx.tokens_terminal(tokens)}"
        page.append(
            (
                f"{names[top]} ({p[top]:.2f}) - words for {names[k]} (occlusion)",
                tokens,
                "fall of p(class) when the word is left out",
            )
        )
        if pieces:
            page.append(
                (
                    f"word pieces for {names[k]} (integrated gradients)",
                    pieces,
                    "integrated gradients on the embeddings, 32 steps from zero",
                )
            )
        out.append(shown)
    if save_dir is not None:
        path = save_dir / "explain.html"
        tmp = path.with_name(".explain.html.tmp")
        tmp.write_text(cx.tokens_html(page), encoding="utf-8")
        tmp.replace(path)
        for shown in out:
            shown["file"] = str(path)
        out[-1]["text"] += f"\nwrote {path}"
    return out
