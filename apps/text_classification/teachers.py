"""Distillation from teacher runs that read text another way (a pretrained encoder's own vocabulary).

A student (bow, cnn, linear) tokenizes with the vocabulary learned from its training split; a ``minilm``
teacher with BERT's. The teachers' probabilities for the training texts (and for ``--unlabelled`` texts,
which only a teacher labels) are computed once, from the raw texts through each teacher's own tokenizer,
and go into the training targets as ``[labels | teacher probabilities]`` (``info["teacher_targets"]`` tells
``common.distill`` not to run the teachers again on every batch: a 6-layer encoder per batch per epoch would
cost more than the student). Evaluating the teachers on the student's held-out batches goes through
:func:`retokenize`: the student's word pieces joined back into text and tokenized as the teacher does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesuite.common import text as ctext
from edgesuite.common.errors import UserInputError


def read_unlabelled(path: str, encoding: str = "utf-8") -> list[str]:
    """The non-empty lines of a text file, one text a line."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserInputError(f"{file}: no such file (--unlabelled takes a text file, one text a line)")
    texts = [line.strip() for line in ctext.read_text_file(file, encoding).splitlines()]
    texts = [t for t in texts if t]
    if not texts:
        raise UserInputError(f"{file}: no text in it (expected one text a line)")
    return texts


def teacher_targets(
    teacher_paths, texts: list[str], class_names: list[str], temperature: float, batch: int = 64
) -> np.ndarray | None:
    """(N, K) averaged teacher probabilities at ``temperature`` for ``texts``; None when a teacher's classes
    differ (``common.distill.load_teachers`` then names the problem)."""
    import keras

    from edgesuite.common.runs import resolve_run

    outs = []
    for given in teacher_paths:
        run = resolve_run(str(given).strip())
        info = run.read_info()
        if info.get("class_names") != class_names or not run.model_path.exists():
            return None
        model = keras.models.load_model(run.model_path, compile=False)
        ids = ctext.tokenize(texts, ctext.tokenizer_from_settings(info["tokenizer"]))
        probs = model.predict(ids, batch_size=batch, verbose=0).astype(np.float64)
        if temperature != 1:
            logits = np.log(np.maximum(probs, 1e-7)) / temperature
            probs = np.exp(logits - logits.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
        outs.append(probs)
    return np.mean(outs, axis=0).astype(np.float32)


_TOKENIZERS: dict = {}


def retokenize(x, teacher_info: dict, info: dict):
    """The student's ids (N, L) as the teacher's: word pieces joined into text (``##`` pieces glued on), then
    the teacher's tokenizer (graph ops)."""
    import tensorflow as tf

    mine, theirs = info["tokenizer"], teacher_info["tokenizer"]
    key = (id(teacher_info), tuple(theirs["vocab"][:8]), theirs["max_length"])
    if key not in _TOKENIZERS:
        _TOKENIZERS.clear()
        _TOKENIZERS[key] = (ctext.tokenizer_from_settings(theirs), tf.constant(mine["vocab"]))
    tokenizer, vocab = _TOKENIZERS[key]
    ids = x[:, : mine["max_length"]]
    pieces = tf.where(ids > 0, tf.gather(vocab, ids), tf.zeros_like(ids, tf.string))
    text = tf.strings.regex_replace(tf.strings.reduce_join(pieces, axis=1, separator=" "), " ##", "")
    return tokenizer(tf.strings.strip(tf.strings.regex_replace(text, " +", " ")))
