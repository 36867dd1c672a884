"""Decoding of text-classifier outputs (numpy only) and the input side of ``edgesuite.load``.

``postprocess`` and ``describe`` need numpy alone. ``preprocess`` hands raw
strings to the formats that tokenize inside (SavedModel, float TFLite); for
the formats that take token ids (.keras, .h5, ONNX, Core ML, int8 TFLite) it
tokenizes with the vocabulary and settings the metadata carries, in plain Python
(``common.text.encode``: the same ids as the WordPiece ops of training, no TensorFlow).
"""

from __future__ import annotations

import numpy as np

from edgesuite.common.decode import top_k_labels
from edgesuite.common.text import as_texts, encode

EXAMPLE_TEXT = "A quietly moving film, well acted, though the ending drags."


def postprocess(probs, metadata: dict, top_k: int = 3) -> list[dict]:
    """(N, K) probabilities -> one dict per text: label, probability, top-k list."""
    return top_k_labels(probs, metadata["class_names"], top_k)


def describe(result: dict) -> str:
    """One line a person reads, as ``edgesuite predict`` prints it."""
    text = result["input"] if len(result["input"]) <= 60 else result["input"][:57] + "..."
    return f"{text!r}: {result['label']} ({result['probability']:.3f})"


def example_input(metadata: dict) -> list[str]:
    return [EXAMPLE_TEXT]


def preprocess(inputs, metadata: dict, input_dtype: str | None = None) -> np.ndarray:
    """Texts -> what the runtime takes: an object array of strings, or (N, L) int32 token ids."""
    if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "iu" and inputs.ndim == 2:
        return inputs.astype(np.int32)  # already token ids
    texts = as_texts(inputs)
    if input_dtype in ("string", "object"):
        return np.array(texts, dtype=object)
    return encode(texts, metadata["tokenizer"])
