"""Translation data: a TSV of source and target columns, two line-aligned files, or the embedded verse pairs.

Every line is read and checked here with its file and line kept, so an empty
side, a row with too few columns or a byte in the wrong encoding is named
precisely (skipped with a counted warning, or fatal with ``--strict``) before
training. Splits are drawn by group: by chapter for the Bible pairs (parallel
passages within a chapter repeat each other, so a verse-level split would leak
them into the test set), by pair otherwise; deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesuite.common import log
from edgesuite.common.data import SkipLog
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import read_text_lines


@dataclass
class Pairs:
    sources: list[str]
    targets: list[str]
    where: list[str]  # file:line, or the verse reference
    groups: list[str]  # split unit: chapter, or one group per pair

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, idx) -> Pairs:
        idx = list(idx)
        return Pairs(
            [self.sources[i] for i in idx],
            [self.targets[i] for i in idx],
            [self.where[i] for i in idx],
            [self.groups[i] for i in idx],
        )


@dataclass
class TranslationSplits:
    train: Pairs
    val: Pairs | None
    test: Pairs
    data_name: str


def _clean(text: str) -> str:
    return " ".join(text.split())


def read_tsv(path: Path, cfg, skips: SkipLog, text: str | None = None) -> Pairs:
    """Tab-separated rows; ``cfg.source_column`` / ``cfg.target_column`` pick the sides, other columns are ignored."""
    lines = read_text_lines(path, cfg.encoding, skips) if text is None else text.split("\n")
    need = max(cfg.source_column, cfg.target_column) + 1
    out = Pairs([], [], [], [])
    for line_no, line in enumerate(lines, start=1):
        if line is None:
            continue  # a byte in the wrong encoding: already counted in skips
        line = line.rstrip("\r")
        if not line.strip():
            continue  # blank lines between rows (and the final newline) are not data
        where = f"{path}:{line_no}"
        cells = line.split("\t")
        if len(cells) < need:
            skips.skip(
                where,
                f"{len(cells)} tab-separated column{'s' if len(cells) != 1 else ''}, expected at least "
                f"{need} (--source-column {cfg.source_column}, --target-column {cfg.target_column})",
            )
            continue
        src, tgt = _clean(cells[cfg.source_column]), _clean(cells[cfg.target_column])
        if not src or not tgt:
            skips.skip(where, f"empty {'source' if not src else 'target'} text")
            continue
        out.sources.append(src)
        out.targets.append(tgt)
        out.where.append(where)
        out.groups.append(where)
    return out


def read_parallel_files(source: Path, target: Path, cfg, skips: SkipLog) -> Pairs:
    """Two plain-text files, line i of one translating line i of the other."""
    for p in (source, target):
        if p.is_dir():
            raise UserInputError(f"{p}: is a folder; --source-file and --target-file take plain-text files")
        if not p.is_file():
            raise UserInputError(f"{p}: no such file")
    a = read_text_lines(source, cfg.encoding, skips)
    b = read_text_lines(target, cfg.encoding, skips)
    a, b = (a[:-1] if a and a[-1] == "" else a), (b[:-1] if b and b[-1] == "" else b)
    if len(a) != len(b):
        raise UserInputError(
            f"{source} has {len(a)} lines and {target} has {len(b)}: the files must be line-aligned "
            "(line i of one translates line i of the other)"
        )
    out = Pairs([], [], [], [])
    for i, (src, tgt) in enumerate(zip(a, b), start=1):
        if src is None or tgt is None:
            continue  # a byte in the wrong encoding on one side: counted in skips, the pair is left out
        src, tgt = _clean(src.rstrip("\r")), _clean(tgt.rstrip("\r"))
        if not src or not tgt:
            skips.skip(f"{source if not src else target}:{i}", "empty line (its pair is left out)")
            continue
        out.sources.append(src)
        out.targets.append(tgt)
        out.where.append(f"{source}:{i}")
        out.groups.append(str(i))
    return out


def read_bible() -> Pairs:
    from edgesuite.common.datasets import bible_en_es as bible

    out = Pairs([], [], [], [])
    with bible.open_text() as f:
        for line in f:
            ref, en, es = line.rstrip("\n").split("\t")
            out.sources.append(en)
            out.targets.append(es)
            out.where.append(ref)
            out.groups.append(bible.chapter_of(ref))
    return out


def read_any(cfg, skips: SkipLog) -> tuple[Pairs, str]:
    from edgesuite.apps.translation.config import NAMED_SETS

    if cfg.source_file:
        return read_parallel_files(Path(cfg.source_file), Path(cfg.target_file), cfg, skips), Path(cfg.source_file).stem
    if cfg.data in NAMED_SETS:
        return read_bible(), cfg.data
    path = Path(cfg.data)
    if path.is_dir():
        raise UserInputError(
            f"{cfg.data}: is a folder; --data takes a TSV file of source and target columns (or "
            f"a named set: {', '.join(NAMED_SETS)}); for two line-aligned files use --source-file "
            "and --target-file"
        )
    if not path.is_file():
        raise UserInputError(
            f"{cfg.data}: no such file, and not a named set ({', '.join(NAMED_SETS)}); "
            "give a TSV with --data, or --source-file and --target-file"
        )
    return read_tsv(path, cfg, skips), path.stem


def split_by_group(groups: list[str], val_fraction: float, test_fraction: float, seed: int):
    """Index arrays (train, val, test): whole groups drawn at random (seeded) for val and test."""
    names = list(dict.fromkeys(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = max(1, round(test_fraction * len(names)))
    n_val = round(val_fraction * len(names)) if val_fraction > 0 else 0
    if n_test + n_val >= len(names):
        raise UserInputError(
            f"{len(names)} sentence groups are too few for a {val_fraction:.0%} validation and "
            f"{test_fraction:.0%} test split with a training part left"
        )
    role = np.zeros(len(names), np.int8)
    role[order[:n_test]] = 2
    role[order[n_test : n_test + n_val]] = 1
    index = {n: i for i, n in enumerate(names)}
    r = np.array([role[index[g]] for g in groups])
    return np.flatnonzero(r == 0), np.flatnonzero(r == 1), np.flatnonzero(r == 2)


def load_splits(cfg) -> TranslationSplits:
    skips = SkipLog("sentence pairs", strict=cfg.strict)
    pairs, name = read_any(cfg, skips)
    skips.report()
    if len(pairs) < 10:
        raise UserInputError(
            f"{cfg.source_file or cfg.data}: {len(pairs)} usable sentence pairs; at least 10 are needed"
        )
    train, val, test = split_by_group(pairs.groups, cfg.val_fraction, cfg.test_fraction, cfg.data_seed)
    return TranslationSplits(pairs.subset(train), pairs.subset(val) if len(val) else None, pairs.subset(test), name)


# ---- from pairs to the model's tensors ------------------------------------------------------------
@dataclass
class EvalSet:
    """What ``evaluate`` decodes: held-out pairs, and the validation batches for token accuracy."""

    pairs: Pairs
    val: object | None = None


def tokenizers(cfg, source_vocab: list[str], target_vocab: list[str]):
    """The run's tokenizers from learnt vocabularies; the target side keeps one position for [START]
    (decoder input) / [END] (label)."""
    from edgesuite.common import text as ctext

    return (
        ctext.TextTokenizer(source_vocab, cfg.max_length, cfg.source_normalize),
        ctext.TextTokenizer(target_vocab, cfg.max_length - 1, cfg.target_normalize),
    )


def tokenizers_from_info(info: dict):
    """The run's own tokenizers, from the settings ``info.json`` keeps."""
    from edgesuite.common import text as ctext

    return (
        ctext.tokenizer_from_settings(info["source_tokenizer"]),
        ctext.tokenizer_from_settings(info["target_tokenizer"]),
    )


def arrays(pairs: Pairs, src_tok, tgt_tok, warn: str | None = None):
    """(source ids, decoder input ids, label ids), each (N, max_length) int32, 0 = padding.
    ``warn``: the split's name, to say how many pairs were truncated (and which first)."""
    import tensorflow as tf

    from edgesuite.apps.translation.postprocess import END_ID, START_ID, mark_spacing
    from edgesuite.common import text as ctext

    targets = [mark_spacing(t) for t in pairs.targets]  # with the spacing marks the decoder learns to write
    if warn:
        long_src = np.asarray(src_tok.tokenizer.tokenize(tf.constant(pairs.sources)).row_lengths()) > src_tok.max_length
        long_tgt = np.asarray(tgt_tok.tokenizer.tokenize(tf.constant(targets)).row_lengths()) > tgt_tok.max_length
        n = int(np.sum(long_src | long_tgt))
        if n:
            first = pairs.where[int(np.flatnonzero(long_src | long_tgt)[0])]
            log.warn(
                f"warning: {n} of {len(pairs)} {warn} pairs are longer than --max-length {src_tok.max_length} "
                f"tokens and were truncated (first: {first})"
            )
    src = ctext.tokenize(pairs.sources, src_tok)
    tgt = ctext.tokenize(targets, tgt_tok)
    n, length = len(pairs), src_tok.max_length
    lengths = (tgt > 0).sum(axis=1)
    dec_in = np.zeros((n, length), np.int32)
    dec_in[:, 0] = START_ID
    dec_in[:, 1:] = tgt
    labels = np.zeros((n, length), np.int32)
    labels[:, :-1] = tgt
    labels[np.arange(n), lengths] = END_ID
    return src, dec_in, labels


def _word_pieces(vocab: list[str]):
    """(words, text): ``words(ids)`` cuts a row of piece ids into words (a piece and the ``##`` pieces after it),
    as lists of ids; ``text(span)`` is the word they spell."""
    cont = np.array([p.startswith("##") for p in vocab])

    def words(row):
        spans = []
        for i in map(int, row[row > 0]):
            if cont[i] and spans:
                spans[-1].append(i)
            else:
                spans.append([i])
        return spans

    def text(span):
        return vocab[span[0]] + "".join(vocab[i][2:] for i in span[1:])

    return words, text


def words_copied_in_pieces(tensors, vocab: list[str]) -> set[str]:
    """The distinct words that some training pair (``arrays``' tensors, one vocabulary for both sides) has on both
    sides and that the vocabulary writes in two pieces or more: the runs of pieces its copy head learns to walk
    through from the data alone."""
    words, text = _word_pieces(vocab)
    found: set[str] = set()
    for src, dec in zip(tensors[0], tensors[1]):
        several = {text(w) for w in words(src) if len(w) > 1}
        if several:
            found |= several & {text(w) for w in words(dec[1:]) if len(w) > 1}
    return found


def spelled_copies(tensors, vocab: list[str]):
    """The training pairs (``arrays``' tensors, one vocabulary for both sides) with every word found on both
    sides spelled out one character a piece (``V ##e ##l ##m ##i``) on both, and a (N,) mask of the pairs that
    changed: (source ids, decoder input ids, label ids, changed). A word is a piece and the ``##`` pieces after it;
    one is spelled out when it has two characters or more, more characters than pieces, and a piece for each
    character (``vocab.joint`` holds every ASCII letter and digit). A pair that would outgrow the length keeps
    its pieces. Fed in place of the plain pair now and then (``batches``), they teach the copy head to walk
    through a run of pieces it never wrote, as a name unseen in training is."""
    from edgesuite.apps.translation.postprocess import END_ID, START_ID

    src, dec_in, labels = (np.array(t) for t in tensors)
    index = {p: i for i, p in enumerate(vocab)}
    words, text = _word_pieces(vocab)

    def spelled(word):
        ids = [index.get(c if j == 0 else "##" + c) for j, c in enumerate(word)]
        return ids if None not in ids else None

    length = src.shape[1]
    changed = np.zeros(len(src), bool)
    for n in range(len(src)):
        s_words, t_words = words(src[n]), words(dec_in[n, 1:])
        shared = {text(w) for w in s_words} & {text(w) for w in t_words}
        chars = {w: spelled(w) for w in shared if len(w) >= 2}
        if not any(chars.values()):
            continue

        def rebuild(spans, chars=chars):
            out = []
            for w in spans:
                ids = chars.get(text(w))
                out += ids if ids and len(ids) > len(w) else w
            return out

        new_src, new_tgt = rebuild(s_words), rebuild(t_words)
        if len(new_src) > length or len(new_tgt) > length - 1 or (new_src == list(src[n][src[n] > 0])):
            continue
        src[n] = 0
        src[n, : len(new_src)] = new_src
        dec_in[n] = 0
        dec_in[n, 0] = START_ID
        dec_in[n, 1 : len(new_tgt) + 1] = new_tgt
        labels[n] = 0
        labels[n, : len(new_tgt)] = new_tgt
        labels[n, len(new_tgt)] = END_ID
        changed[n] = True
    return src, dec_in, labels, changed


def batches(
    tensors,
    batch_size: int,
    seed: int,
    shuffle: bool,
    token_dropout: float = 0.0,
    spelled=None,
    spelled_share: float = 0.0,
):
    """Batches of pairs of similar length, each trimmed to its longest row (rounded up to 16 tokens).

    Each epoch sorts the pairs by length with a little noise (so batches differ
    between epochs), cuts them into batches and shuffles the batch order; the
    number of batches is the plain ``ceil(N / batch_size)``. Padding every batch
    to the longest pair of the set spends most of the compute on padding; the
    rounding to 16 keeps the shapes XLA compiles the step for to a few.
    ``token_dropout`` (training batches only): that share of the source pieces and of the decoder's input
    pieces (not ``[START]``) become ``[UNK]``, drawn anew each epoch (word dropout: the decoder cannot lean on
    its own prefix alone, the encoder on any one piece); the labels stay whole.
    ``spelled`` (``spelled_copies``' tensors, training batches only): each changed pair comes spelled out in
    ``spelled_share`` of the epochs, drawn anew each epoch.
    """
    import math

    import tensorflow as tf

    src, dec_in, labels = tensors
    n = len(src)
    length = np.maximum((src > 0).sum(1), (labels > 0).sum(1))
    if spelled is not None:
        s_src, s_dec, s_labels, changed = spelled
        s_length = np.maximum((s_src > 0).sum(1), (s_labels > 0).sum(1))
    count = math.ceil(n / batch_size)
    epoch = [0]

    def generate():
        rng = np.random.default_rng(seed + epoch[0])
        epoch[0] += 1
        use = np.zeros(n, bool)  # the pairs that come spelled out this epoch, drawn before the batches are cut
        if spelled is not None and spelled_share and shuffle:
            use = changed & (rng.random(n) < spelled_share)
        lengths = np.where(use, s_length, length) if use.any() else length
        noise = rng.uniform(0, 4, n) if shuffle else np.zeros(n)
        order = np.argsort(lengths + noise, kind="stable")
        chunks = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        if shuffle:
            rng.shuffle(chunks)
        for idx in chunks:
            x_src, x_dec, y = src[idx], dec_in[idx], labels[idx]
            if use[idx].any():
                pick = use[idx][:, None]
                x_src, x_dec, y = (
                    np.where(pick, a[idx], b) for a, b in ((s_src, x_src), (s_dec, x_dec), (s_labels, y))
                )
            t = int(min(src.shape[1], 16 * math.ceil(lengths[idx].max() / 16)))
            x_src, x_dec, y = x_src[:, :t], x_dec[:, :t], y[:, :t]
            if token_dropout and shuffle:
                unk = np.int32(1)  # [UNK] in every vocabulary (common.text.RESERVED)
                x_src = np.where((x_src > 0) & (rng.random(x_src.shape) < token_dropout), unk, x_src)
                drop = (x_dec > 0) & (rng.random(x_dec.shape) < token_dropout)
                drop[:, 0] = False
                x_dec = np.where(drop, unk, x_dec)
            yield (x_src, x_dec), y, (y > 0).astype(np.float32)

    spec = tf.TensorSpec([None, None], tf.int32)
    ds = tf.data.Dataset.from_generator(
        generate, output_signature=((spec, spec), spec, tf.TensorSpec([None, None], tf.float32))
    )
    return ds.apply(tf.data.experimental.assert_cardinality(count)).prefetch(2)


def eval_set(cfg, info: dict, data: str | None) -> EvalSet:
    """The run's own test split (and its validation batches), or a user's TSV file of pairs."""
    if data is None:
        splits = load_splits(cfg)
        if not splits.val:
            return EvalSet(splits.test)
        src_tok, tgt_tok = tokenizers_from_info(info)
        return EvalSet(
            splits.test, batches(arrays(splits.val, src_tok, tgt_tok), cfg.batch_size, cfg.seed, shuffle=False)
        )
    skips = SkipLog("sentence pairs", strict=cfg.strict)
    if not Path(data).is_file():
        what = "is a folder" if Path(data).is_dir() else "no such file"
        raise UserInputError(f"{data}: {what} (expected a TSV file of source and target columns)")
    pairs = read_tsv(Path(data), cfg, skips)
    skips.report()
    if not len(pairs):
        raise UserInputError(f"{data}: no usable sentence pairs")
    return EvalSet(pairs)
