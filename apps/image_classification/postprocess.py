"""Decoding of classifier outputs: numpy only, importable without TensorFlow.

``edgesuite.load`` uses it on a board that has only numpy and LiteRT.
"""

from __future__ import annotations

import numpy as np


def postprocess(probs, metadata: dict, top_k: int = 3) -> list[dict]:
    """(N, K) probabilities -> one dict per image: label, probability, top-k list."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim == 1:
        probs = probs[None]
    names = metadata["class_names"]
    k = min(top_k, probs.shape[1])
    out = []
    for row in probs:
        order = np.argsort(-row)[:k]
        out.append({
            "label": names[int(order[0])],
            "probability": float(row[order[0]]),
            "top_k": [{"label": names[int(i)], "probability": float(row[i])} for i in order],
        })
    return out
