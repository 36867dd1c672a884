"""PNG plots a person looks at: training curves, confusion matrix, prediction grid.

Matplotlib's Agg backend only (no screen needed); every function writes one
file atomically and returns its path.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    os.replace(tmp, path)
    return path


def training_curves(history_csv: Path, out: Path) -> Path:
    """Loss, each metric (train and validation) and the learning rate per epoch."""
    plt = _plt()
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    epochs = [int(r["epoch"]) for r in rows]
    keys = [k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k != "lr"] if rows else []
    panels = keys + (["lr"] if rows and "lr" in rows[0] else [])
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(4.2 * max(1, len(panels)), 3.4), squeeze=False)
    for ax, key in zip(axes[0], panels):
        ax.plot(epochs, [float(r[key]) for r in rows], marker="o", label="train" if key != "lr" else "lr")
        if rows and f"val_{key}" in rows[0]:
            ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], marker="o", label="validation")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        if key == "lr":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("training curves", y=1.03)
    return _save(fig, out)


def confusion_matrix(cm: list[list[int]], class_names: list[str], out: Path) -> Path:
    """Row-normalised colours, raw counts written in each cell."""
    plt = _plt()
    cm_arr = np.asarray(cm, dtype=float)
    norm = cm_arr / np.maximum(cm_arr.sum(axis=1, keepdims=True), 1)
    k = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                int(cm_arr[i, j]),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    ax.set_title("confusion matrix")
    return _save(fig, out)


def prediction_grid(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    probs: np.ndarray,
    class_names: list[str],
    out: Path,
    cols: int = 8,
) -> Path:
    """Images with 'predicted (p) / true' titles; wrong predictions in red."""
    plt = _plt()
    n = len(images)
    rows = max(1, int(np.ceil(n / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, t, p, pr in zip(axes.flat, images, true, pred, probs):
        ax.imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None, vmin=0, vmax=255)
        ax.set_title(
            f"{class_names[p]} ({pr:.2f})\ntrue: {class_names[t]}", fontsize=7, color="black" if p == t else "red"
        )
    fig.suptitle("validation predictions (red: wrong)")
    return _save(fig, out)


def mask_grid(
    images: np.ndarray,
    true: np.ndarray,
    pred: np.ndarray,
    class_names: list[str],
    out: Path,
    colours: np.ndarray,
    ignore_index: int = 255,
) -> Path:
    """Rows of image / true mask overlay / predicted mask overlay, with a legend of the classes shown."""
    plt = _plt()
    n = len(images)
    fig, axes = plt.subplots(n, 3, figsize=(6.6, 2.2 * n), squeeze=False)

    def overlay(image, mask):
        colour = colours[np.where(mask == ignore_index, 0, mask)].astype(np.float32)
        shown = image.astype(np.float32)
        blended = np.where((mask > 0)[..., None], 0.4 * shown + 0.6 * colour, shown)
        blended[mask == ignore_index] = 255.0  # ignored pixels in white
        return np.uint8(np.round(blended))

    for i in range(n):
        for j, (title, img) in enumerate(
            (("image", images[i]), ("true", overlay(images[i], true[i])), ("predicted", overlay(images[i], pred[i])))
        ):
            axes[i, j].imshow(img.squeeze(), cmap="gray" if img.shape[-1] == 1 else None, interpolation="nearest")
            axes[i, j].set_axis_off()
            if i == 0:
                axes[i, j].set_title(title, fontsize=9)
    shown = sorted((set(np.unique(true).tolist()) | set(np.unique(pred).tolist())) - {0, ignore_index})
    shown = [c for c in shown if 0 < c < len(class_names)]
    if shown:
        from matplotlib.patches import Patch

        fig.legend(
            handles=[Patch(color=colours[c] / 255.0, label=class_names[c]) for c in shown],
            loc="lower center",
            ncol=min(5, len(shown)),
            fontsize=8,
            bbox_to_anchor=(0.5, -0.02),
        )
    fig.tight_layout()
    return _save(fig, out)


def box_grid(
    images: np.ndarray, truths: list[dict], preds: list[dict], class_names: list[str], out: Path, min_score: float = 0.3
) -> Path:
    """Pairs of panels per image: true boxes, predicted boxes (score >= ``min_score``, with the score).

    Boxes are ``xyxy`` in the images' pixels; colours by class, the same in both panels.
    """
    from matplotlib.patches import Rectangle

    plt = _plt()
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    n = len(images)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2.0 * 2 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for i in range(n):
        for j, (title, objs) in enumerate((("true", truths[i]), ("predicted", preds[i]))):
            ax = axes[i // cols, 2 * (i % cols) + j]
            ax.imshow(images[i], interpolation="nearest")
            ax.set_title(title, fontsize=8)
            scores = objs.get("scores", np.ones(len(objs["classes"])))
            for box, cls, score in zip(objs["boxes"], objs["classes"], scores):
                if score < min_score:
                    continue
                x1, y1, x2, y2 = box
                colour = cmap(int(cls) % cmap.N)
                ax.add_patch(
                    Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.2)
                )
                label = class_names[int(cls)] + (f" {score:.2f}" if "scores" in objs else "")
                ax.text(x1, y1 - 1, label, color=colour, fontsize=5, va="bottom")
    fig.tight_layout()
    return _save(fig, out)


def pr_curves(curves: dict[str, list[float]], recall_points: np.ndarray, out: Path, title: str) -> Path:
    """Precision against recall, one line per class (precision interpolated as in COCO AP)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, precision in curves.items():
        p = np.asarray(precision)
        ax.plot(
            recall_points,
            np.where(p < 0, np.nan, p),
            label=f"{name} (AP {np.mean(p[p >= 0]) if (p >= 0).any() else 0:.2f})",
        )
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.tight_layout()
    return _save(fig, out)


def grouped_bars(groups: list[str], series: dict[str, list[float]], out: Path, title: str, ylabel: str) -> Path:
    """One bar per series in each group (e.g. BLEU of greedy and beam search per sentence-length bucket)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (name, values) in enumerate(series.items()):
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=6)
    ax.set_xticks(x, groups, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, out)
