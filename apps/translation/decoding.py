"""Decoding with the Keras model: greedy in the graph's loop, beam search in numpy over a step function.

A ``Decoder`` belongs to one model and keeps its compiled greedy loop, so an evaluation (or an export's
reference run) compiles it once; nothing is cached between models.
"""

from __future__ import annotations

import warnings

import numpy as np

from edgesuite.apps.translation import model as tmodel
from edgesuite.apps.translation import postprocess as codec


class Decoder:
    def __init__(self, model, info: dict):
        """``info``: the run's info or an export's metadata (tokenizers, ``max_length``, ``length_penalty``)."""
        self.model, self.info = model, info
        self.max_length = info["max_length"]
        self._greedy = None

    def ids(self, texts: list[str], beam_size: int = 1, batch: int = 64) -> np.ndarray:
        """Texts -> target ids (N, max_length) int32, 0 after ``[END]``; an empty text gives no tokens."""
        import tensorflow as tf

        # the first decoding step attends over one key, and Keras warns that a softmax over one value is 1: it is
        warnings.filterwarnings("ignore", message="You are using a softmax over axis", category=UserWarning)
        texts = list(texts)
        source = codec.tokenize_sources(texts, self.info)
        out = np.zeros((len(texts), self.max_length), np.int32)
        if beam_size == 1:
            fn = self._greedy_fn()
            for i in range(0, len(texts), batch):
                out[i : i + batch] = fn(tf.constant(source[i : i + batch])).numpy()
        else:
            encoder, decoder, head = tmodel.parts(self.model)
            step = tf.function(lambda p, m, s: head(decoder([p, m, s], training=False)[:, -1]), reduce_retracing=True)
            for i in range(0, len(texts), batch):
                src = source[i : i + batch]
                memory = encoder(tf.constant(src), training=False)

                def next_log_probs(rows, prefix, src=src, memory=memory):
                    probs = step(tf.constant(prefix), tf.gather(memory, rows), tf.constant(src[rows])).numpy()
                    return codec.log_softmax_rows(probs)

                out[i : i + batch] = codec.beam_search(
                    next_log_probs,
                    len(src),
                    self.max_length,
                    beam_size,
                    self.info.get("length_penalty", 0.6),
                    codec.decoding_rules(self.info),
                    codec.length_limits(src, self.info),
                )
        out[np.array([not t.strip() for t in texts], bool)] = 0
        return out

    def translate(self, texts: list[str], beam_size: int = 1, batch: int = 64) -> list[str]:
        vocab = self.info["target_tokenizer"]["vocab"]
        return [codec.detokenize(row, vocab) for row in self.ids(texts, beam_size, batch)]

    def _greedy_fn(self):
        import tensorflow as tf

        if self._greedy is None:
            spec = tf.TensorSpec([None, None], tf.int32)
            self._greedy = tf.function(
                tmodel.greedy_decoder(self.model, self.max_length, rules=codec.decoding_rules(self.info)),
                input_signature=[spec],
            )
        return self._greedy
