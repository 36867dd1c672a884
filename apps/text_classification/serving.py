"""What an exported text classifier carries (its tokenizer) and how each file is checked."""

from __future__ import annotations

import numpy as np

from edgesuite.apps.text_classification import data as tcdata
from edgesuite.apps.text_classification import postprocess as codec
from edgesuite.common import text as ctext
from edgesuite.common.data import parity_draw
from edgesuite.common.task import Serving

# the BERT input names MediaPipe's metadata writer looks for (serving_default_<name>:0 in the file)
MEDIAPIPE_INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


ENCODER_INT8 = (
    "not written for a pretrained encoder: full-integer LayerNorm, softmax and GELU cost it about ten "
    "accuracy points; model_dynamic.tflite has its int8 weights with float activations"
)


class TextClassificationServing(Serving):
    name = "text-classification"
    codec = codec

    def metadata(self, info: dict) -> dict:
        tok = info["tokenizer"]
        return {
            "task": self.name,
            "kind": "classifier",
            "class_names": info["class_names"],
            "input": {"name": "text", "shape": [], "dtype": "string"},
            "model_input": {"name": "token_ids", "shape": [info["input_length"]], "dtype": "int32"},
            "outputs": ["probabilities"],
            "preprocessing": (
                f"WordPiece ({len(tok['vocab'])} pieces, normalize={tok['normalize']}), "
                + ("[CLS] " if tok.get("special_tokens") else "")
                + f"{tok['max_length']} tokens"
                + (" [SEP]" if tok.get("special_tokens") else "")
                + ", 0-padded"
                + (f", {tok['bigram_buckets']} hashed bigram ids appended" if tok["bigram_buckets"] else "")
                + (f", then {tok['trigram_buckets']} hashed trigram ids" if tok.get("trigram_buckets") else "")
            ),
            "normalization": "tokenizer inside the SavedModel and float TFLite; token ids for the other formats",
            "tokenizer": tok,
            "tflite_custom_ops": list(ctext.TFLITE_TEXT_OPS),
            "tflite_custom_ops_registrar": "tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS",
            "data_name": info.get("data_name"),
            # a pretrained encoder in full integer loses its LayerNorm, softmax and GELU ranges: 0.81 -> 0.71 test
            # accuracy on Rotten Tomatoes (RESULTS.md); its int8-weights file is model_dynamic.tflite
            **(
                {"not_written": {name: ENCODER_INT8 for name in ("tflite-int8", "mediapipe-int8")}}
                if info.get("encoder")
                else {}
            ),
        }

    def preprocessor(self, info: dict):
        return ctext.tokenizer_from_settings(info["tokenizer"])

    def mediapipe_graph(self, model, metadata: dict):
        """MediaPipe's TextClassifier tokenizes with the BERT WordPiece tokenizer in the metadata (this vocabulary,
        with [CLS] and [SEP] after it) and feeds three int32 (1, L + 2) inputs: [CLS] ids [SEP] 0..., a mask and
        segment ids. The graph drops [CLS] and [SEP] (ids >= V become padding), gives an empty text its [UNK]
        and appends the hashed n-grams as the tokenizer here does, then runs the model."""
        from types import SimpleNamespace

        import tensorflow as tf

        tok = metadata["tokenizer"]
        v, length = len(tok["vocab"]), tok["max_length"]
        signature = [tf.TensorSpec([1, length + 2], tf.int32, name=n) for n in MEDIAPIPE_INPUTS]
        if tok.get("special_tokens"):
            return self._encoder_mediapipe_graph(model, tok, signature)

        def fn(ids, mask, segment_ids):
            ids = ids[:, 1 : length + 1]
            ids = tf.where(ids >= v, tf.zeros_like(ids), ids)
            empty = tf.reduce_all(tf.equal(ids, 0), axis=1, keepdims=True)
            ids = tf.concat([tf.where(empty, tf.ones_like(ids[:, :1]), ids[:, :1]), ids[:, 1:]], axis=1)
            grams = ctext.with_ngrams(ids, v, tok.get("bigram_buckets", 0), tok.get("trigram_buckets", 0))
            return (model(grams, training=False),)

        def representative(token_ids):
            pieces = np.asarray(token_ids)[:, :length]
            ids = np.zeros((len(pieces), length + 2), np.int32)
            ids[:, 0], ids[:, 1 : length + 1] = v, pieces
            count = (pieces > 0).sum(1)
            ids[np.arange(len(ids)), np.minimum(count + 1, length + 1)] = v + 1
            return [ids, (ids > 0).astype(np.int32), np.zeros_like(ids)]

        return SimpleNamespace(
            signature=signature,
            fn=fn,
            representative=representative,
            vocab=[*tok["vocab"], "[CLS]", "[SEP]"],
            input_names=MEDIAPIPE_INPUTS,
        )

    @staticmethod
    def _encoder_mediapipe_graph(model, tok: dict, signature):
        """A pretrained encoder takes MediaPipe's ``input_word_ids`` as they are (its vocabulary holds [CLS] and
        [SEP]); an empty text, ``[CLS] [SEP]`` there, gets the ``[UNK]`` the tokenizer here gives it."""
        from types import SimpleNamespace

        import tensorflow as tf

        vocab = tok["vocab"]
        unk, sep = vocab.index(tok.get("unknown_token", ctext.UNK)), vocab.index(tok["special_tokens"][1])

        def fn(ids, mask, segment_ids):
            empty = tf.equal(ids[:, 1:2], sep)
            ids = tf.concat(
                [
                    ids[:, :1],
                    tf.where(empty, tf.fill(tf.shape(empty), unk), ids[:, 1:2]),
                    tf.where(empty, tf.fill(tf.shape(empty), sep), ids[:, 2:3]),
                    ids[:, 3:],
                ],
                axis=1,
            )
            return (model(ids, training=False),)

        def representative(token_ids):
            ids = np.asarray(token_ids, np.int32)
            return [ids, (ids > 0).astype(np.int32), np.zeros_like(ids)]

        return SimpleNamespace(
            signature=signature, fn=fn, representative=representative, vocab=list(vocab), input_names=MEDIAPIPE_INPUTS
        )

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
