"""What an exported text classifier carries (its tokenizer) and how each file is checked."""

from __future__ import annotations

import numpy as np
from edgesuite.apps.text_classification import data as tcdata
from edgesuite.apps.text_classification import postprocess as codec
from edgesuite.common import text as ctext
from edgesuite.common.data import parity_draw
from edgesuite.common.task import Serving


class TextClassificationServing(Serving):
    name = "text-classification"
    codec = codec

    def metadata(self, info: dict) -> dict:
        tok = info["tokenizer"]
        return {
            "task": self.name, "kind": "classifier", "class_names": info["class_names"],
            "input": {"name": "text", "shape": [], "dtype": "string"},
            "model_input": {"name": "token_ids", "shape": [info["input_length"]], "dtype": "int32"},
            "outputs": ["probabilities"],
            "preprocessing": (f"WordPiece ({len(tok['vocab'])} pieces, normalize={tok['normalize']}), "
                              f"{tok['max_length']} tokens, 0-padded"
                              + (f", {tok['bigram_buckets']} hashed bigram ids appended" if tok["bigram_buckets"] else "")),
            "normalization": "tokenizer inside the SavedModel and float TFLite; token ids for the other formats",
            "tokenizer": tok,
            "tflite_custom_ops": list(ctext.TFLITE_TEXT_OPS),
            "tflite_custom_ops_registrar": "tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS",
            "data_name": info.get("data_name"),
        }

    def preprocessor(self, info: dict):
        return ctext.tokenizer_from_settings(info["tokenizer"])

    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        """Token ids of training texts (int8 calibration) and the parity texts (``common.data.parity_draw``)."""
        splits = tcdata.load_splits(cfg)
        tokenizer = ctext.tokenizer_from_settings(info["tokenizer"])
        order = np.random.default_rng(cfg.seed).permutation(len(splits.train))[:calibration]
        representative = ctext.tokenize([splits.train.texts[i] for i in order], tokenizer)
        held, extra = parity_draw(splits, samples, cfg.seed)  # the labelled held-out texts first
        texts = held.texts + [t for part in extra for t in part.texts]
        return representative, (np.array(texts, dtype=object), held.labels)

    def parity_metric(self, outputs: np.ndarray, labels: np.ndarray, metadata: dict) -> tuple[str, float]:
        return "accuracy", float(np.mean(outputs.argmax(-1) == labels))


SERVING = TextClassificationServing()
