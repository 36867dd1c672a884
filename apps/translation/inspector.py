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


def inspect_data(cfg, plots: Path) -> dc.Inspection:
    splits = trdata.load_splits(cfg)
    items, findings, ratios, lengths = [], [], {}, {}
    for split, part in dc.split_parts(splits):
        r, n = [], []
        for i, (src, tgt, where) in enumerate(zip(part.sources, part.targets, part.where)):
            near = dc.normalise_text(src) + "\t" + dc.normalise_text(tgt)
            items.append(
                dc.Item(
                    where,
                    split,
                    None,
                    dc.digest_bytes(f"{src}\t{tgt}".encode("utf-8", "replace")),
                    near,
                    f"{src}  →  {tgt}",
                    i,
                )
            )
            if dc.normalise_text(src) == dc.normalise_text(tgt):
                findings.append(
                    dc.Finding(
                        "untranslated",
                        [where],
                        f"source and target are the same: {src[:80]!r}",
                        [split],
                        thumbs=[f"{src}  →  {tgt}"],
                    )
                )
            r.append(max(1, len(tgt.split())) / max(1, len(src.split())))
            n.append(len(src.split()))
        ratios[split], lengths[split] = np.array(r), np.array(n)
    median = float(np.median(np.concatenate(list(ratios.values()))))
    for it, ratio in zip(items, np.concatenate(list(ratios.values()))):
        if ratio > median * RATIO_FAR or ratio < median / RATIO_FAR:
            findings.append(
                dc.Finding(
                    "length-ratio",
                    [it.key],
                    f"target/source words {ratio:.2f} (median {median:.2f}): misaligned?",
                    [it.split],
                    thumbs=[it.thumb],
                )
            )
    far = sum(1 for f in findings if f.kind == "length-ratio")
    section = dc.Section(
        "Lengths and ratios",
        [
            "Source lengths in words: "
            + "; ".join(f"{s} median {int(np.median(v))}, longest {int(v.max())}" for s, v in lengths.items()),
            f"Target / source word ratio: median {median:.2f}; {far} pairs beyond {RATIO_FAR:g}x of it (listed as "
            f"length-ratio); {sum(1 for f in findings if f.kind == 'untranslated')} untranslated pairs.",
            "Sentence groups (chapters of the named set) go to one split whole, as the run splits them.",
        ],
        [
            dc.histogram_plot(
                {s: np.log2(v) for s, v in ratios.items()},
                plots / "length_ratio.png",
                "log2(target words / source words)",
                "log2 ratio",
            )
        ],
        {"median_ratio": median, "source_lengths": {s: v.tolist() for s, v in lengths.items()}},
    )
    return dc.Inspection(
        splits.data_name,
        items,
        None,
        [section],
        findings,
        splits=splits,
        label_errors_skipped="Sentence pairs have no class: no label errors to look for.",
    )


def write_fixed(cfg, found: dc.Inspection, dropped: set, out: Path) -> None:
    """``out/pairs.tsv`` with the source and target in the columns ``--source-column`` / ``--target-column``
    name; ``--data out/pairs.tsv`` reads it. A TSV has no sentence groups: its pairs are split one by one."""
    width = max(cfg.source_column, cfg.target_column) + 1
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "pairs.tsv", "w", encoding="utf-8") as f:
        for split, part in dc.split_parts(found.splits):
            for i in dc.kept(part, split, dropped):
                row = [""] * width
                row[cfg.source_column], row[cfg.target_column] = part.sources[i], part.targets[i]
                f.write("\t".join(row) + "\n")


def explain(
    model, predictor, inputs: list, save_dir: Path | None = None, target: str | None = None, box: int | None = None
) -> list[dict]:
    """The decoder's cross-attention while it writes its translation: for each target word piece, how much of
    its attention (the last decoder block's, averaged over heads) goes to each source word piece, as a
    ``source x target`` grid. Needs a run's Keras model (an exported file hides its attention). One dict per
    sentence (``grid``: (T, S), ``source_pieces``, ``target_pieces``); with ``save_dir``, ``<i>_attention.png``."""
    from edgesuite.apps.translation import postprocess as codec
    from edgesuite.common.errors import UserInputError

    if target is not None or box is not None:
        raise UserInputError("--target / --box: translation explains each sentence's attention as a whole")
    if model is None:
        raise UserInputError(
            f"{predictor.path}: an exported file does not expose the decoder's attention; "
            "explain the run folder it came from"
        )
    meta = predictor.metadata
    texts = [str(t) for t in inputs]
    written = np.asarray(predictor.predict_raw(texts))
    decoder = model.get_layer("decoder")
    cross = [layer for layer in decoder.layers if layer.name.endswith("_cross")]
    last = cross[-1]
    # the query the last cross-attention reads (its LayerNormalization's output) and the encoder's memory, so
    # that the attention is called once more by itself, with its scores returned
    import keras
    from keras import ops

    probe = keras.Model(decoder.inputs, decoder.get_layer(last.name.replace("_cross", "_ln_cross")).output)
    encoder = model.get_layer("encoder")
    src_vocab, tgt_vocab = meta["source_tokenizer"]["vocab"], meta["target_tokenizer"]["vocab"]
    out = []
    for i, text in enumerate(texts):
        source = codec.tokenize_sources([text], meta)
        pieces = codec.strip_ids(written[i])
        dec_in = np.zeros((1, source.shape[1]), np.int32)
        dec_in[0, 0] = codec.START_ID
        dec_in[0, 1 : 1 + min(len(pieces), source.shape[1] - 1)] = pieces[: source.shape[1] - 1]
        memory = encoder(source, training=False)
        query = probe([ops.convert_to_tensor(dec_in), memory, ops.convert_to_tensor(source)], training=False)
        _, scores = last(
            query, memory, query_mask=dec_in != 0, value_mask=source != 0, return_attention_scores=True, training=False
        )
        s_len = int((source[0] > 0).sum())
        t_len = min(len(pieces), source.shape[1] - 1)
        grid = np.asarray(scores)[0].mean(0)[:t_len, :s_len]  # (T, S): query position t writes pieces[t]
        src_pieces = [src_vocab[j] if j < len(src_vocab) else "[UNK]" for j in source[0, :s_len]]
        tgt_pieces = [tgt_vocab[j] if j < len(tgt_vocab) else "[UNK]" for j in pieces[:t_len]]
        shown = {
            "input": text,
            "translation": codec.detokenize(written[i], tgt_vocab),
            "grid": grid,
            "source_pieces": src_pieces,
            "target_pieces": tgt_pieces,
            "method": "cross-attention",
        }
        if save_dir is not None:
            shown["file"] = str(_attention_png(save_dir / f"{i:02d}_attention.png", grid, src_pieces, tgt_pieces, text))
        strongest = [f"{t}<-{src_pieces[int(grid[k].argmax())]}" for k, t in enumerate(tgt_pieces[:8])]
        shown["text"] = f"{text[:60]!r} -> {shown['translation'][:60]!r}; attends: {', '.join(strongest)}" + (
            f"; wrote {shown['file']}" if "file" in shown else ""
        )
        out.append(shown)
    return out


def _attention_png(path: Path, grid: np.ndarray, source: list[str], target: list[str], title: str) -> Path:
    from edgesuite.common.plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(source) + 2), max(3, 0.3 * len(target) + 1.5)))
    ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(source)), source, rotation=90, fontsize=7)
    ax.set_yticks(range(len(target)), target, fontsize=7)
    ax.set_xlabel("source")
    ax.set_ylabel("target (written)")
    ax.set_title(title[:70], fontsize=8)
    fig.tight_layout()
    return _save(fig, path)
