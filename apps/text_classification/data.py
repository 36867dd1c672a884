"""Text-classification data: CSV/TSV, JSON Lines, class folders and the named corpus -> checked splits.

Every row is read and checked here, with its file and line kept, so an empty
text, a missing label or a byte in the wrong encoding is named precisely
(skipped with a counted warning, or fatal with ``--strict``) before training.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgesuite.common.data import SkipLog, check_label, stratified_split
from edgesuite.common.errors import UserInputError
from edgesuite.common.text import read_text_file

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
SPLIT_NAMES = {"train": ("train",), "val": ("val", "valid", "validation", "dev"), "test": ("test",)}

csv.field_size_limit(1 << 24)  # plot summaries and whole documents exceed the default 128 kB


@dataclass
class Rows:
    """Texts with their raw labels and where each came from (``file:line``)."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    where: list[str] = field(default_factory=list)

    def add(self, text: str, label: str, where: str) -> None:
        self.texts.append(text)
        self.labels.append(label)
        self.where.append(where)


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: np.ndarray  # int ids into the class names
    where: list[str]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> LabelledTexts:
        return LabelledTexts([self.texts[i] for i in idx], self.labels[idx], [self.where[i] for i in idx])


@dataclass
class TextSplits:
    train: LabelledTexts
    val: LabelledTexts | None
    test: LabelledTexts | None
    class_names: list[str]
    data_name: str


def _delimiter(path: Path, cfg) -> str:
    if cfg.delimiter:
        return "\t" if cfg.delimiter == "\\t" else cfg.delimiter
    return TABLE_SUFFIXES.get(path.suffix.lower(), "\t" if path.suffix.lower() == ".txt" else ",")


def _check_row(rows: Rows, skips: SkipLog, text, label, where: str) -> None:
    text = "" if text is None else str(text)
    label = "" if label is None else str(label).strip()
    if not text.strip():
        skips.skip(where, "empty or missing text")
    elif not label:
        skips.skip(where, "empty or missing label")
    else:
        rows.add(text, check_label(label, where), where)  # a newline in a label would break the label files


def read_table(path: Path, cfg, text_column: str, label_column: str, skips: SkipLog, stream=None) -> Rows:
    """A delimited file with a header row naming ``text_column`` and ``label_column``."""
    text = stream.read() if stream is not None else read_text_file(path, cfg.encoding)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_delimiter(path, cfg), quotechar=cfg.quotechar)
    columns = reader.fieldnames or []
    for col, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if col not in columns:
            raise UserInputError(
                f"{path}: no column {col!r} (set {flag}); the header has: "
                f"{', '.join(repr(c) for c in columns) or 'nothing'}"
            )
    rows = Rows()
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row:  # more fields than the header: a delimiter or quoting problem
                skips.skip(
                    where,
                    f"{len(columns) + len(row[None])} fields, the header has {len(columns)} "
                    "(check --delimiter / --quotechar)",
                )
                continue
            _check_row(rows, skips, row.get(text_column), row.get(label_column), where)
    except csv.Error as exc:
        raise UserInputError(
            f"{path}:{reader.line_num}: malformed CSV ({exc}); check --delimiter / --quotechar"
        ) from None
    return rows


def read_jsonl(path: Path, cfg, skips: SkipLog) -> Rows:
    """One JSON object per line with the text and label keys."""
    rows = Rows()
    for line_no, line in enumerate(read_text_file(path, cfg.encoding).splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise UserInputError(f"{where}: not a JSON object ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise UserInputError(
                f"{where}: expected a JSON object with keys {cfg.text_column!r} and "
                f"{cfg.label_column!r}, got {type(obj).__name__}"
            )
        if line_no == 1 or not rows.texts:
            for key, flag in ((cfg.text_column, "--text-column"), (cfg.label_column, "--label-column")):
                if key not in obj:
                    raise UserInputError(
                        f"{where}: no key {key!r} (set {flag}); the object has: "
                        f"{', '.join(repr(k) for k in obj) or 'nothing'}"
                    )
        _check_row(rows, skips, obj.get(cfg.text_column), obj.get(cfg.label_column), where)
    return rows


def read_class_folders(root: Path, cfg, skips: SkipLog) -> Rows:
    """``root/<label>/*.txt``: one text per file."""
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise UserInputError(f"{root}: expected one sub-folder per class holding .txt files, found none")
    rows = Rows()
    for d in class_dirs:
        check_label(d.name, str(root))  # named by the folder above, before its files
        files = sorted(p for p in d.rglob("*.txt") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UserInputError(f"{d}: class folder holds no .txt files")
        for p in files:
            _check_row(rows, skips, read_text_file(p, cfg.encoding), d.name, str(p))
    return rows


def read_any(path: Path, cfg, skips: SkipLog) -> Rows:
    if path.is_dir():
        return read_class_folders(path, cfg, skips)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return read_jsonl(path, cfg, skips)
    if suffix in TABLE_SUFFIXES or suffix == ".txt" or cfg.delimiter:
        return read_table(path, cfg, cfg.text_column, cfg.label_column, skips)
    raise UserInputError(
        f"{path}: expected .csv, .tsv, .jsonl or a folder of class sub-folders of .txt files "
        "(or set --delimiter for another delimited file)"
    )


def _named(name: str, cfg, skips: SkipLog) -> Rows:
    from edgesuite.common.datasets import rotten_tomatoes as rt

    with rt.open_text() as f:
        return read_table(rt.PATH, cfg, rt.TEXT_COLUMN, rt.LABEL_COLUMN, skips, stream=f)


def _split_sources(root: Path) -> dict[str, Path]:
    """``train``/``val``/``test`` files or folders inside ``root`` (``train`` required)."""
    found = {}
    for split, names in SPLIT_NAMES.items():
        for n in names:
            hits = [p for p in sorted(root.iterdir()) if p.name == n or (p.is_file() and p.stem == n)]
            if hits:
                found[split] = hits[0]
                break
    return found if "train" in found else {}


def to_labelled(rows: Rows, names: list[str], skips: SkipLog, split: str) -> LabelledTexts:
    """Maps raw labels to ids; a label training never saw is skipped (or fatal with --strict)."""
    index = {n: i for i, n in enumerate(names)}
    keep = []
    for i, label in enumerate(rows.labels):
        if label in index:
            keep.append(i)
        else:
            skips.skip(
                rows.where[i],
                f"label {label!r} in the {split} split was never seen in training "
                f"(training labels: {', '.join(names)})",
            )
    return LabelledTexts(
        [rows.texts[i] for i in keep],
        np.array([index[rows.labels[i]] for i in keep], np.int64),
        [rows.where[i] for i in keep],
    )


def load_splits(cfg) -> TextSplits:
    """Resolves ``cfg.data`` to train/val/test, deterministic for ``cfg.data_seed``."""
    from edgesuite.apps.text_classification.config import NAMED_SETS

    skips = SkipLog("text rows", strict=cfg.strict)
    data = cfg.data
    if data in NAMED_SETS:
        pool, sources, name = _named(data, cfg, skips), None, data
    else:
        path = Path(data)
        if not path.exists():
            raise UserInputError(f"{data}: no such file or folder, and not a named set ({', '.join(NAMED_SETS)})")
        sources = _split_sources(path) if path.is_dir() else {}
        pool = read_any(sources["train"], cfg, skips) if sources else read_any(path, cfg, skips)
        name = path.name
    if not pool.texts:
        skips.report()
        raise UserInputError(f"{data}: no usable rows (every row was empty or unlabelled)")
    names = sorted(set(pool.labels))
    if len(names) < 2:
        raise UserInputError(f"{data}: every row has the label {names[0]!r}; a classifier needs at least two classes")
    train_all = to_labelled(pool, names, skips, "train")
    val = test = None
    if sources:
        val = to_labelled(read_any(sources["val"], cfg, skips), names, skips, "val") if "val" in sources else None
        test = to_labelled(read_any(sources["test"], cfg, skips), names, skips, "test") if "test" in sources else None
    fractions = tuple(
        f for f, have in ((cfg.val_fraction, val is not None), (cfg.test_fraction, test is not None)) if not have
    )
    parts = stratified_split(train_all.labels, fractions, cfg.data_seed) if fractions else [np.arange(len(train_all))]
    train = train_all.subset(parts[0])
    taken = iter(parts[1:])
    if val is None:
        idx = next(taken, np.array([], np.int64))
        val = train_all.subset(idx) if len(idx) else None
    if test is None:
        idx = next(taken, np.array([], np.int64))
        test = train_all.subset(idx) if len(idx) else None
    skips.report()
    missing = [names[c] for c in range(len(names)) if not np.any(train.labels == c)]
    if missing:
        raise UserInputError(f"{data}: class {missing[0]!r} has no example left in the training split")
    return TextSplits(train, val, test, names, name)


def load_eval_set(data: str, cfg, class_names: list[str]) -> LabelledTexts:
    """A user-given evaluation file or folder, its labels mapped onto the training classes."""
    skips = SkipLog("text rows", strict=cfg.strict)
    path = Path(data)
    if not path.exists():
        raise UserInputError(f"{data}: no such file or folder")
    rows = read_any(path, cfg, skips)
    out = to_labelled(rows, class_names, skips, "evaluation")
    skips.report()
    if not len(out):
        raise UserInputError(f"{data}: no row with a label the model knows ({', '.join(class_names)})")
    return out
