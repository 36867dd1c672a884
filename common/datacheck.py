"""What ``edgesuite data check`` does for every app: duplicates, leakage, label errors, the report.

An app describes its data as :class:`Item` rows (``apps/<app>/inspector.py``: where each came from, the split the
run would put it in, its label, a hash of its content and a near-duplicate key) made from the app's own
``load_splits``, so the splits checked are the splits a run trains on. This module finds the groups of exact
duplicates (same content hash) and of near-duplicates (perceptual hashes within :data:`NEAR_BITS` bits for
images, the same normalised text for text), says which cross splits (leakage) and which disagree on the label,
picks what ``--fix`` drops, runs confident learning (cleanlab) on out-of-fold probabilities, and writes the
report folder: ``report.md``, ``report.html`` (thumbnails inline), ``issues.csv`` and the plots.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import logging
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("edgesuite")

SPLITS = ("train", "val", "test")
NEAR_BITS = 4  # pHash distance (of 64 bits) up to which two images may be near-duplicates: a resized or re-saved
#                copy moves 0-2 bits; two different Fashion-MNIST shirts differ by 10 or more
NEAR_PIXELS = 6.0  # ... confirmed when their 16 x 16 grey pictures differ by at most this mean (of 255): two
#                    canvases with like backgrounds agree within 4 bits (seen: 9 and 46 levels apart), a resized copy
#                    is within 2 levels
HASH_SIDE = 32  # pHash: the image at 32 x 32 grey, the 8 x 8 lowest DCT frequencies against their median
FOLDS = 5  # out-of-fold probabilities for confident learning
THUMB = 64  # report thumbnails: the longer side in pixels
SHOWN = 60  # findings of one kind shown with thumbnails in report.html (issues.csv lists all)


@dataclass
class Item:
    """One item of the data as the run would split it."""

    key: str  # where it came from: a path, file:line, "canvas train #3"
    split: str  # train / val / test
    label: str | None  # the class (classification), None where an item has no one label
    digest: str  # exact content hash
    near: Any = None  # near-duplicate key: a pHash (int) or normalised text
    thumb: Any = None  # what the report shows: an image path, a uint8 array or a text
    index: int = -1  # position in its split (what --fix uses)
    small: Any = None  # images: the 16 x 16 grey picture that confirms a pHash match (see image_keys)


@dataclass
class Finding:
    kind: str  # exact-duplicate, near-duplicate, leak, label-conflict, label-error, or an app's own
    keys: list[str]
    detail: str
    splits: list[str] = field(default_factory=list)
    given: str = ""
    suggested: str = ""
    score: float | None = None
    thumbs: list = field(default_factory=list)


@dataclass
class Section:
    """An app's statistics: a heading, Markdown lines, plots (paths inside the report folder)."""

    title: str
    lines: list[str]
    plots: list[Path] = field(default_factory=list)
    data: dict = field(default_factory=dict)


@dataclass
class CheckResult:
    """What ``edgesuite.check_data`` returns: the findings as rows, the sections, what --fix drops, the paths."""

    task: str
    data_name: str
    items: list[Item]
    findings: list[Finding]
    sections: list[Section]
    dropped: list[Item]
    path: Path | None = None
    fixed: Path | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.kind] = out.get(f.kind, 0) + 1
        return out

    def rows(self) -> list[dict]:
        """issues.csv as dicts."""
        return [
            {
                "kind": f.kind,
                "items": " | ".join(f.keys),
                "splits": " | ".join(f.splits),
                "given": f.given,
                "suggested": f.suggested,
                "score": "" if f.score is None else f"{f.score:.4f}",
                "detail": f.detail,
            }
            for f in self.findings
        ]


# ---------------------------------------------------------------- hashing
def split_parts(splits) -> list[tuple[str, Any]]:
    """``(name, part)`` for each non-empty split of an app's ``load_splits`` result, train first."""
    return [
        (name, part)
        for name, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
        if part is not None and len(part)
    ]


def digest_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest_array(array: np.ndarray) -> str:
    a = np.ascontiguousarray(array)
    return digest_bytes(str(a.shape).encode() + a.tobytes())


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    m[0] *= 1 / np.sqrt(2)
    return m * np.sqrt(2 / n)


_DCT = _dct_matrix(HASH_SIDE)


def image_keys(image) -> tuple[int, np.ndarray]:
    """``(pHash, 16 x 16 grey picture)`` of a uint8 array (H, W[, C]) or an image file. The pHash (64 bits): the
    image at 32 x 32 grey, its 2-D DCT, the 8 x 8 lowest frequencies each above or below their median; resizing,
    re-saving and small brightness changes keep it within a few bits."""
    from PIL import Image

    if isinstance(image, (str, Path)):
        from edgesuite.common.decode import eight_bit, open_image

        with open_image(image) as im:
            im = eight_bit(im).convert("L")
    else:
        a = np.asarray(image)
        a = a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a
        im = Image.fromarray(a.astype(np.uint8)).convert("L")
    small = np.asarray(im.resize((HASH_SIDE, HASH_SIDE), Image.BILINEAR), np.float64)
    freq = (_DCT @ small @ _DCT.T)[:8, :8].ravel()
    bits = freq > np.median(freq[1:])
    picture = np.asarray(im.resize((16, 16), Image.BILINEAR), np.uint8)
    return int(sum(1 << i for i, b in enumerate(bits) if b)), picture


def phash(image) -> int:
    """The 64-bit pHash of :func:`image_keys`."""
    return image_keys(image)[0]


def image_item(key: str, split: str, label: str | None, source, index: int) -> Item:
    """The item of an image file (``source`` a path: its bytes hashed) or array (its pixels hashed)."""
    digest = digest_file(source) if isinstance(source, (str, Path)) else digest_array(source)
    near, small = image_keys(source)
    return Item(key, split, label, digest, near, source, index, small)


def normalise_text(text: str) -> str:
    """Near-duplicate key of a text: NFKC, case-folded, punctuation and repeated spaces dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch if not unicodedata.category(ch).startswith("P") else " " for ch in text)
    return " ".join(text.split())


# ---------------------------------------------------------------- duplicates
def _groups_by(keys: list) -> list[list[int]]:
    where: dict = {}
    for i, k in enumerate(keys):
        if k is not None:
            where.setdefault(k, []).append(i)
    return [g for g in where.values() if len(g) > 1]


def _near_image_groups(hashes: list[int | None], bits: int, smalls: list | None = None) -> list[list[int]]:
    """Groups of items whose pHashes differ by ``bits`` or fewer (all pairs, in blocks: 12,000 items in ~2 s) and,
    where ``smalls`` are given, whose 16 x 16 pictures differ by at most :data:`NEAR_PIXELS` on average. A group is
    one item and its matches (the first item not yet grouped leads), not the chain of matches of matches: a chain
    joined 30 white sneakers of Fashion-MNIST, each like the next, the ends unlike."""
    idx = np.array([i for i, h in enumerate(hashes) if h is not None], np.int64)
    if len(idx) < 2:
        return []
    h = np.array([hashes[i] for i in idx], np.uint64)
    matches: dict[int, list[int]] = {}
    block = 1024
    for s in range(0, len(h), block):
        d = np.bitwise_count(h[s : s + block, None] ^ h[None, :])
        rows, cols = np.nonzero(d <= bits)
        for r, c in zip(rows + s, cols):
            if c == r:
                continue
            a, b = int(idx[r]), int(idx[c])
            if (
                smalls is not None
                and smalls[a] is not None
                and smalls[b] is not None
                and np.abs(smalls[a].astype(np.float32) - smalls[b]).mean() > NEAR_PIXELS
            ):
                continue
            matches.setdefault(a, []).append(b)
    groups, grouped = [], set()
    for a in sorted(matches):
        if a in grouped:
            continue
        group = [a] + [b for b in sorted(matches[a]) if b not in grouped]
        if len(group) > 1:
            groups.append(group)
            grouped.update(group)
    return groups


def _split_rank(split: str) -> int:
    return SPLITS.index(split) if split in SPLITS else len(SPLITS)


def duplicate_findings(items: list[Item], near_bits: int = NEAR_BITS) -> tuple[list[Finding], set[int]]:
    """Findings of exact and near-duplicate groups, and the item indices ``--fix`` drops: every copy but the
    first (the one in the earliest split: train, then validation, then test, so a leak leaves the held-out
    split), and every copy of a group whose labels disagree (which one is right is for a person to say)."""
    findings, drop = [], set()
    exact = _groups_by([it.digest for it in items])
    in_exact = {i for g in exact for i in g}
    nears = [it.near for it in items]
    if any(isinstance(n, int) for n in nears):
        near = _near_image_groups(
            [n if isinstance(n, int) else None for n in nears], near_bits, [it.small for it in items]
        )
    else:
        near = _groups_by(nears)
    # a near group adds something only where it is not one exact group
    near = [g for g in near if not (set(g) <= in_exact and len({items[i].digest for i in g}) == 1)]
    for kind, groups in (("exact-duplicate", exact), ("near-duplicate", near)):
        for g in groups:
            g = sorted(g, key=lambda i: (_split_rank(items[i].split), i))
            splits = sorted({items[i].split for i in g}, key=_split_rank)
            labels = sorted({items[i].label for i in g if items[i].label is not None})
            keys = [items[i].key for i in g]
            thumbs = [items[i].thumb for i in g[:4]]
            detail = f"{len(g)} copies in {', '.join(splits)}"
            findings.append(Finding(kind, keys, detail, [items[i].split for i in g], thumbs=thumbs))
            if len(splits) > 1:
                findings.append(
                    Finding(
                        "leak",
                        keys,
                        f"the same {'content' if kind == 'exact-duplicate' else 'item, nearly,'}"
                        f" in {' and '.join(splits)}",
                        [items[i].split for i in g],
                        thumbs=thumbs,
                    )
                )
            if len(labels) > 1:
                findings.append(
                    Finding(
                        "label-conflict",
                        keys,
                        "copies labelled " + " / ".join(labels),
                        [items[i].split for i in g],
                        given=" / ".join(str(items[i].label) for i in g),
                        thumbs=thumbs,
                    )
                )
                drop.update(g)
            else:
                drop.update(g[1:])
    return findings, drop


# ---------------------------------------------------------------- label errors
def out_of_fold_probs(features, labels: np.ndarray, seed: int = 0, folds: int = FOLDS, c: float = 1.0) -> np.ndarray:
    """(N, K) probabilities of a logistic regression (inverse regularisation ``c``) for each item from the folds
    it was not trained on. A fit that stops at its iteration limit is still a fair quick model: said once."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = max(2, min(folds, int(np.bincount(labels).min())))
    model = LogisticRegression(C=c, max_iter=300)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probs = cross_val_predict(model, features, labels, cv=cv, method="predict_proba")
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        log.info("label errors: the quick model stopped at its 300 iterations before converging")
    return probs


def label_error_findings(
    items: list[Item], probs: np.ndarray, labels: np.ndarray, class_names: list[str], model: str
) -> list[Finding]:
    """Confident learning (cleanlab's ``find_label_issues``) on out-of-fold ``probs``: the items whose given
    label the quick ``model`` finds least likely, ranked, with the label it suggests."""
    from cleanlab.filter import find_label_issues

    if len(np.unique(labels)) < 2 or min(np.bincount(labels)) < 2:
        return []
    ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
    out = []
    for i in ranked:
        it = items[i]
        out.append(
            Finding(
                "label-error",
                [it.key],
                f"{model}: p(given) = {probs[i, labels[i]]:.2f}",
                [it.split],
                given=class_names[labels[i]],
                suggested=class_names[int(np.argmax(probs[i]))],
                score=float(probs[i, labels[i]]),
                thumbs=[it.thumb],
            )
        )
    return out


# ---------------------------------------------------------------- balance
def balance_section(items: list[Item], class_names: list[str] | None, folder: Path) -> Section:
    """Per-class counts in each split and the imbalance ratio (largest / smallest training class)."""
    names = class_names or sorted({it.label for it in items if it.label is not None})
    table = {s: [sum(1 for it in items if it.split == s and it.label == n) for n in names] for s in SPLITS}
    lines = ["| class | " + " | ".join(SPLITS) + " |", "| --- | " + " | ".join("---:" for _ in SPLITS) + " |"]
    lines += [f"| {n} | " + " | ".join(str(table[s][c]) for s in SPLITS) + " |" for c, n in enumerate(names)]
    train = [c for c in table["train"] if c]
    ratio = max(train) / min(train) if train else 0.0
    lines.append("")
    lines.append(
        f"Imbalance (largest / smallest training class): {ratio:.1f}x"
        + (" — consider --class-weight balanced" if ratio >= 3 else "")
    )
    plot = bar_plot(names, {s: table[s] for s in SPLITS}, folder / "class_balance.png", "items per class")
    return Section("Class balance", lines, [plot], {"counts": table, "imbalance": ratio})


def bar_plot(groups: list[str], series: dict[str, list[float]], out: Path, title: str) -> Path:
    from edgesuite.common.plots import grouped_bars

    return grouped_bars(groups, series, out, title, "count")


def histogram_plot(
    values: dict[str, np.ndarray], out: Path, title: str, xlabel: str, mark: float | None = None
) -> Path:
    from edgesuite.common.plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, v in values.items():
        if len(v):
            ax.hist(v, bins=40, alpha=0.6, label=name)
    if mark is not None:
        ax.axvline(mark, color="k", ls="--", label=f"{mark:g}")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.legend()
    return _save(fig, out)


# ---------------------------------------------------------------- the report
def _thumb_html(thumb) -> str:
    if thumb is None:
        return ""
    if isinstance(thumb, str) and not os.path.isfile(thumb):
        return f"<code>{html.escape(thumb[:200])}</code>"
    from PIL import Image

    try:
        if isinstance(thumb, (str, Path)):
            from edgesuite.common.decode import eight_bit, open_image

            with open_image(thumb) as im:
                im = eight_bit(im).convert("RGB")
        else:
            a = np.asarray(thumb)
            im = Image.fromarray((a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a).astype(np.uint8))
        im.thumbnail((THUMB, THUMB))
        buf = io.BytesIO()
        im.save(buf, "PNG")
    except (OSError, ValueError):
        return ""
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}" title="thumb">'


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_lines(result: CheckResult) -> list[str]:
    c = result.counts()
    kinds = ("exact-duplicate", "near-duplicate", "leak", "label-conflict", "label-error")
    lines = [
        f"{result.task} on {result.data_name}: {len(result.items)} items "
        f"({', '.join(f'{s} {sum(1 for it in result.items if it.split == s)}' for s in SPLITS)})"
    ]
    lines.append("  " + ", ".join(f"{k}s {c.get(k, 0)}" for k in kinds))
    others = {k: v for k, v in c.items() if k not in kinds}
    if others:
        lines.append("  " + ", ".join(f"{k} {v}" for k, v in sorted(others.items())))
    lines.append(f"  --fix drops {len(result.dropped)} items")
    return lines


def write_report(result: CheckResult, folder: Path) -> Path:
    """report.md, report.html, issues.csv and the plots (already in ``folder``/plots) into ``folder``; each
    written to a temporary name first."""
    folder.mkdir(parents=True, exist_ok=True)
    md = (
        [f"# Data check: {result.task} on {result.data_name}", ""]
        + [f"    {ln}" for ln in summary_lines(result)]
        + [""]
    )
    body = [
        f"<h1>Data check: {html.escape(result.task)} on {html.escape(result.data_name)}</h1>",
        "<pre>" + html.escape("\n".join(summary_lines(result))) + "</pre>",
    ]
    for s in result.sections:
        md += [f"## {s.title}", ""] + s.lines + [""] + [f"![{p.stem}]({p.relative_to(folder)})" for p in s.plots] + [""]
        body.append(f"<h2>{html.escape(s.title)}</h2><pre>{html.escape(chr(10).join(s.lines))}</pre>")
        body += [f'<img src="{html.escape(str(p.relative_to(folder)))}" style="max-width:640px">' for p in s.plots]
    kinds = list(dict.fromkeys(f.kind for f in result.findings))
    for kind in kinds:
        found = [f for f in result.findings if f.kind == kind]
        md += [
            f"## {kind} ({len(found)})",
            "",
            "| items | splits | given | suggested | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        md += [
            f"| {_md_cell(' <br> '.join(f.keys))} | {' '.join(f.splits)} | {_md_cell(f.given)} | "
            f"{_md_cell(f.suggested)} | {_md_cell(f.detail)} |"
            for f in found[:500]
        ]
        if len(found) > 500:
            md.append(f"\n... and {len(found) - 500} more in issues.csv")
        md.append("")
        body.append(
            f"<h2>{html.escape(kind)} ({len(found)})</h2><table border=1 cellpadding=3>"
            "<tr><th>items</th><th>splits</th><th>given</th><th>suggested</th><th>detail</th><th></th></tr>"
        )
        for f in found[:SHOWN]:
            body.append(
                f"<tr><td>{'<br>'.join(html.escape(k) for k in f.keys[:6])}</td><td>{' '.join(f.splits[:6])}"
                f"</td><td>{html.escape(f.given)}</td><td>{html.escape(f.suggested)}</td>"
                f"<td>{html.escape(f.detail)}</td><td>{''.join(_thumb_html(t) for t in f.thumbs[:4])}</td></tr>"
            )
        body.append(
            "</table>" + (f"<p>... and {len(found) - SHOWN} more in issues.csv</p>" if len(found) > SHOWN else "")
        )
    if result.dropped:
        md += (
            [f"## Dropped by --fix ({len(result.dropped)})", ""]
            + [f"- {it.split}: {it.key}" for it in result.dropped]
            + [""]
        )
        body.append(
            f"<h2>Dropped by --fix ({len(result.dropped)})</h2><ul>"
            + "".join(f"<li>{it.split}: {html.escape(it.key)}</li>" for it in result.dropped)
            + "</ul>"
        )
    _atomic_text(folder / "report.md", "\n".join(md) + "\n")
    _atomic_text(
        folder / "report.html",
        "<!doctype html><meta charset=utf-8><title>edgesuite data check</title>"
        "<body style='font-family:sans-serif'>" + "\n".join(body) + "</body>\n",
    )
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["kind", "items", "splits", "given", "suggested", "score", "detail"])
    writer.writeheader()
    writer.writerows(result.rows())
    _atomic_text(folder / "issues.csv", buf.getvalue())
    return folder


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def staging(out: Path) -> Path:
    """A fresh temporary folder beside ``out`` to write into, moved to ``out`` by :func:`publish`."""
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def publish(tmp: Path, out: Path) -> Path:
    """Replaces ``out`` (a previous report or cleaned copy) by ``tmp`` whole."""
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    return out


def safe_name(index: int, key: str, suffix: str = "") -> str:
    """A file name for item ``index`` of a cleaned copy: unique by the index, readable by the source's name."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(key).stem if suffix == "" else Path(key).stem)[:60] or "item"
    return f"{index:06d}_{stem}{suffix or Path(key).suffix.lower()}"


# ---------------------------------------------------------------- the check
@dataclass
class Inspection:
    """What an app's ``inspect_data(cfg, plots)`` returns: its items as the run splits them, its own statistics
    and findings, and what confident learning runs on: ``probs`` (out-of-fold, N x K, in ``items`` order for the
    items in ``labelled``) or ``features`` for the default quick model (a logistic regression)."""

    data_name: str
    items: list[Item]
    class_names: list[str] | None
    sections: list[Section] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    features: np.ndarray | None = None
    probs: np.ndarray | None = None
    model: str = ""  # the quick model's description
    c: float = 1.0  # its inverse regularisation (a logistic regression on ``features``)
    splits: Any = None  # the app's own splits object, for its write_fixed
    label_errors_skipped: str = ""  # why confident learning did not run


def check(inspector, cfg, task: str, out: Path, fix: Path | None = None, label_errors: bool = True) -> CheckResult:
    """The whole check: the app's ``inspector`` (``inspect_data``, ``write_fixed``) on ``cfg``; the report in
    ``out`` and, with ``fix``, the cleaned copy there (both written aside, then moved in whole)."""
    out = Path(out)
    tmp = staging(out)
    (tmp / "plots").mkdir()
    try:
        found = inspector.inspect_data(cfg, tmp / "plots")
        items = found.items
        log.info("data check: %d items; looking for duplicates", len(items))
        dup_findings, drop = duplicate_findings(items)
        findings = dup_findings + list(found.findings)
        sections = list(found.sections)
        if found.class_names:
            sections.insert(0, balance_section(items, found.class_names, tmp / "plots"))
        if label_errors and found.class_names and (found.probs is not None or found.features is not None):
            labels = np.array([found.class_names.index(it.label) for it in items], np.int64)
            probs = found.probs
            if probs is None:
                log.info("label errors: out-of-fold probabilities of %s (%d folds)", found.model, FOLDS)
                probs = out_of_fold_probs(found.features, labels, cfg.data_seed, c=found.c)
            errors = label_error_findings(items, probs, labels, found.class_names, found.model)
            findings += errors
            sections.append(
                Section(
                    "Label errors",
                    [
                        f"Confident learning (cleanlab {_cleanlab_version()}, "
                        "find_label_issues ranked by self-confidence) "
                        f"on out-of-fold probabilities of {found.model}: {len(errors)} suspected label errors "
                        f"({len(errors) / max(1, len(items)):.1%} of the items). "
                        "Out-of-fold accuracy of the quick model: "
                        f"{np.mean(probs.argmax(1) == labels):.3f}. Look at them; --fix does not drop them."
                    ],
                )
            )
        elif found.label_errors_skipped:
            sections.append(Section("Label errors", [found.label_errors_skipped]))
        dropped = [items[i] for i in sorted(drop, key=lambda i: (_split_rank(items[i].split), i))]
        result = CheckResult(task, found.data_name, items, findings, sections, dropped)
        if fix is not None:
            fix = Path(fix)
            fixed_tmp = staging(fix)
            try:
                inspector.write_fixed(cfg, found, {(it.split, it.index) for it in dropped}, fixed_tmp)
            except BaseException:
                shutil.rmtree(fixed_tmp, ignore_errors=True)
                raise
            result.fixed = publish(fixed_tmp, fix)
            sections.append(
                Section(
                    "Cleaned copy",
                    [
                        f"--fix wrote {result.fixed}: the data without the "
                        f"{len(dropped)} items listed under 'Dropped by --fix'; train "
                        f"with --data {result.fixed}"
                    ],
                )
            )
        write_report(result, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.path = publish(tmp, out)
    for s in result.sections:  # plots moved with the folder
        s.plots = [out / p.relative_to(tmp) for p in s.plots]
    return result


def _cleanlab_version() -> str:
    import cleanlab

    return cleanlab.__version__


def kept(split_items, split: str, dropped: set) -> list[int]:
    """Indices of ``split``'s items that --fix keeps."""
    return [i for i in range(len(split_items)) if (split, i) not in dropped]
