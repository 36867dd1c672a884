"""Classifier output decoding shared by the classification apps: numpy only, no TensorFlow.

``edgesuite.load`` uses it on a board that has only numpy and a runtime.
"""

from __future__ import annotations

import numpy as np


def top_k_labels(probs, class_names: list[str], top_k: int = 3) -> list[dict]:
    """(N, K) probabilities -> one dict per row: label, probability, top-k list."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None]
    k = min(top_k, probs.shape[1])
    out = []
    for row in probs:
        order = np.argsort(-row)[:k]
        out.append({
            "label": class_names[int(order[0])],
            "probability": float(row[order[0]]),
            "top_k": [{"label": class_names[int(i)], "probability": float(row[i])} for i in order],
        })
    return out
