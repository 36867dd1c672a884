"""Classification metrics, from scikit-learn, in the shape ``metrics.json`` holds."""

from __future__ import annotations

import numpy as np


def predict_dataset(model, ds) -> tuple[np.ndarray, np.ndarray]:
    """Int labels (N,) and class probabilities (N, K) of a model over a batched (inputs, one-hot) dataset."""
    probs, labels = [], []
    for x, y in ds:
        probs.append(np.asarray(model(x, training=False), dtype=np.float32))
        labels.append(np.argmax(y.numpy(), axis=-1))
    return np.concatenate(labels), np.concatenate(probs)


def classification_metrics(y_true: np.ndarray, probs: np.ndarray, class_names: list[str]) -> dict:
    """accuracy, macro precision/recall/F1, one-vs-rest ROC-AUC, per-class report, confusion matrix.

    ``y_true``: int labels (N,); ``probs``: (N, K) class probabilities.
    ROC-AUC is macro one-vs-rest over the classes present in ``y_true``
    (None when fewer than two are present).
    """
    from sklearn import metrics as skm

    y_true = np.asarray(y_true).astype(int)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(class_names)
    y_pred = probs.argmax(axis=1)
    labels = np.arange(k)
    p, r, f1, support = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = np.unique(y_true)
    roc_auc = None
    if len(present) >= 2:
        if k == 2:
            roc_auc = float(skm.roc_auc_score(y_true, probs[:, 1]))
        else:
            # macro over present classes only: a class with no positives has no ROC curve
            aucs = [skm.roc_auc_score(y_true == c, probs[:, c]) for c in present]
            roc_auc = float(np.mean(aucs))
    mask = support > 0
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "macro_precision": float(p[mask].mean()) if mask.any() else 0.0,
        "macro_recall": float(r[mask].mean()) if mask.any() else 0.0,
        "macro_f1": float(f1[mask].mean()) if mask.any() else 0.0,
        "roc_auc": roc_auc,
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "num_examples": int(len(y_true)),
    }
