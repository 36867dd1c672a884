"""Decoding of classifier outputs: numpy only, importable without TensorFlow.

``edgesuite.load`` uses it on a board that has only numpy and LiteRT.
"""

from __future__ import annotations

import numpy as np

from edgesuite.common.decode import read_images, top_k_labels


def postprocess(probs, metadata: dict, top_k: int = 3) -> list[dict]:
    """(N, K) probabilities -> one dict per image: label, probability, top-k list."""
    return top_k_labels(probs, metadata["class_names"], top_k)


def describe(result: dict) -> str:
    """One line a person reads, as ``edgesuite predict`` prints it."""
    return f"{result['input']}: {result['label']} ({result['probability']:.3f})"


def example_input(metadata: dict) -> np.ndarray:
    """One input of the model's shape (random pixels, seeded): what ``edgesuite benchmark`` times."""
    return np.random.default_rng(0).integers(0, 256, (1, *metadata["input"]["shape"]), dtype=np.uint8)


def preprocess(inputs, metadata: dict, input_dtype: str | None = None) -> np.ndarray:
    """Image files or arrays -> (N, S, S, C) uint8 at the trained size (PIL, no TensorFlow).

    ``input_dtype`` (what the runtime takes) is the same uint8 for every image format.

    What training did: grey ('L') or RGB, bilinear resize to the model's input size.
    """
    size, channels = metadata["input"]["shape"][0], metadata["input"]["shape"][2]
    return read_images(inputs, size, channels)
