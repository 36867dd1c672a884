"""Text classifiers over token ids (int32, 0 = padding): linear, bow, cnn, bilstm, transformer.

All four are functional models of Keras core layers (no custom classes), so
``.keras`` loads with plain ``keras.models.load_model`` and TFLite, ONNX and
Core ML convert them with builtin ops. Padding (id 0) is masked. Keras 3
records the padding mask as a ``NotEqual`` op node, which the legacy ``.h5``
loader finds by the module ``export/keras_files.py`` writes on it. The tokenizer is not
in this model: training feeds ids from the tf.data pipeline, and export puts
the tokenizer in front of it for the formats that take strings.

- ``linear``: the TF-IDF + logistic regression baseline's features, in the graph, into one softmax layer:
  each distinct id of the text (word pieces, their hashed bigrams and, for text without spaces, trigrams)
  weighs ``(1 + ln tf) * idf`` (the sublinear term frequency and the training split's inverse document
  frequency, as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``), the weights scaled to unit L2 norm
  over the text; the class scores are the weighted sum of each id's learned score vector. The term counts
  come from comparing every position with every other of its part (``Equal`` and an int32 sum: builtin ops
  in every format, quadratic in the length but a few million comparisons at 2,048 tokens); ``(1 + ln c) / c``
  per position is a lookup in a fixed table, so a full-integer ``.tflite`` never quantizes a count.
- ``bow``: fastText-style: one table for word pieces and hashed bigrams (the
  tokenizer appends the bigram ids, see ``common/text.py``), masked mean.
- ``cnn``: parallel 1-D convolutions (widths 3 and 5), max-pooled over time.
- ``bilstm``: a bidirectional LSTM, unrolled over the fixed length so that it
  converts to plain TFLite ops (no TensorList / while loop).
- ``transformer``: a convolutional position encoding (a width-3 depthwise
  convolution added to the embeddings; no position table) and ``layers``
  pre-norm encoder blocks of masked multi-head self-attention, masked mean
  pooling.
"""

from __future__ import annotations

import numpy as np

from edgesuite.common import text as ctext


def build(cfg, num_classes: int, vocab_size: int, input_length: int, idf=None):
    """``input_length``: ids per text the model takes (the tokenizer's ``output_length``: word pieces, and for
    the bag models their hashed bigrams after them); ``idf``: the linear model's fixed input weights, one per
    id (None: ones)."""
    import dataclasses

    import keras
    from keras import layers

    cfg = dataclasses.replace(cfg, trigram_buckets=max(cfg.trigram_buckets, 0))  # -1 (from the data) makes none
    d = cfg.embed_dim
    ids = keras.Input(shape=(input_length,), dtype="int32", name="token_ids")
    if cfg.model == "linear":
        return _linear(cfg, ids, num_classes, vocab_size, input_length, idf)
    if cfg.model == "bow":
        x = layers.Embedding(
            vocab_size + cfg.bigram_buckets + cfg.trigram_buckets, d, mask_zero=True, name="token_embedding"
        )(ids)
        h = layers.GlobalAveragePooling1D(name="mean")(x)
    elif cfg.model == "cnn":
        x = layers.Embedding(vocab_size, d, name="token_embedding")(ids)
        x = layers.SpatialDropout1D(0.1)(x)
        pooled = [
            layers.GlobalMaxPooling1D()(
                layers.Conv1D(cfg.hidden, w, padding="same", activation="relu", name=f"conv{w}")(x)
            )
            for w in (3, 5)
        ]
        h = layers.Concatenate()(pooled)
    elif cfg.model == "bilstm":
        x = layers.Embedding(vocab_size, d, mask_zero=True, name="token_embedding")(ids)
        h = layers.Bidirectional(layers.LSTM(cfg.hidden, unroll=True), name="bilstm")(x)
    elif cfg.model == "transformer":
        x = layers.Embedding(vocab_size, d, name="token_embedding")(ids)
        x = layers.Add(name="add_position")([x, layers.DepthwiseConv1D(3, padding="same", name="position_conv")(x)])
        # the padding mask, passed explicitly (Add would drop an Embedding mask here)
        pad = keras.ops.not_equal(ids, 0)
        for i in range(cfg.layers):
            y = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln1")(x)
            y = layers.MultiHeadAttention(cfg.heads, d // cfg.heads, dropout=0.1, name=f"block{i}_attention")(
                y, y, query_mask=pad, value_mask=pad
            )
            x = layers.Add()([x, layers.Dropout(0.1)(y)])
            y = layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_ln2")(x)
            # relu, not gelu: exact gelu becomes Erfc, which tf2onnx cannot convert
            y = layers.Dense(2 * cfg.hidden, activation="relu", name=f"block{i}_ffn1")(y)
            y = layers.Dense(d, name=f"block{i}_ffn2")(y)
            x = layers.Add()([x, layers.Dropout(0.1)(y)])
        x = layers.LayerNormalization(epsilon=1e-6, name="final_ln")(x)
        h = layers.GlobalAveragePooling1D(name="mean")(x, mask=pad)
    else:
        raise ValueError(f"unknown model {cfg.model!r}")
    h = layers.Dropout(cfg.dropout)(h)
    # softmax in float32 under mixed precision
    out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(h)
    return keras.Model(ids, out, name=f"text_{cfg.model}")


def term_counts(ids, widths: list[int]):
    """(B, N) int32 ids -> (B, N): how often each position's id occurs in its text (in its part: the word
    pieces, the bigrams and the trigrams after them, ``widths`` long, never share an id, so each part is
    compared with itself only)."""
    from keras import ops

    ends = np.cumsum([0, *widths]).tolist()
    parts = [ids[:, a:b] for a, b in zip(ends[:-1], ends[1:])]
    counts = [
        ops.sum(ops.cast(ops.equal(ops.expand_dims(p, 2), ops.expand_dims(p, 1)), "int32"), axis=-1) for p in parts
    ]
    return ops.concatenate(counts, axis=1) if len(counts) > 1 else counts[0]


def sublinear_tables(length: int):
    """Per-position factors of a term seen ``c`` times, for c = 0 .. length: ``(1 + ln c) / c`` (summed over
    its c positions: the sublinear term frequency) and ``(1 + ln c)^2 / c`` (summed: its square, for the
    norm); 0 at c = 0."""
    c = np.arange(length + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        tf = np.where(c > 0, (1 + np.log(np.maximum(c, 1))) / np.maximum(c, 1), 0.0)
    return tf.astype(np.float32).reshape(-1, 1), (tf * tf * c).astype(np.float32).reshape(-1, 1)


def _linear(cfg, ids, num_classes: int, vocab_size: int, input_length: int, idf):
    import keras
    from keras import layers, ops

    n = vocab_size + cfg.bigram_buckets + cfg.trigram_buckets
    counts = term_counts(ids, ctext.split_ngram_widths(input_length, cfg.bigram_buckets, cfg.trigram_buckets))
    tf_table, tf2_table = sublinear_tables(input_length)
    f32 = {"dtype": "float32"}  # a tiny graph: float32 throughout, so sums over thousands of ids stay exact
    fixed = {"trainable": False, "embeddings_initializer": "zeros", **f32}
    idf_p = layers.Embedding(n, 1, **fixed, name="idf")(ids)  # (B, N, 1); padding (id 0) weighs 0
    tf_p = layers.Embedding(input_length + 1, 1, **fixed, name="sublinear_tf")(counts)
    tf2_p = layers.Embedding(input_length + 1, 1, **fixed, name="sublinear_tf_squared")(counts)
    weight = layers.Multiply(**f32, name="tfidf")([idf_p, tf_p])
    scores = layers.Embedding(n, num_classes, **f32, name="ngram_weights")(ids)
    summed = ops.sum(layers.Multiply(**f32, name="weighted_scores")([scores, weight]), axis=1)
    norm2 = ops.sum(
        layers.Multiply(**f32, name="tfidf_squared")([layers.Multiply(**f32)([idf_p, idf_p]), tf2_p]), axis=1
    )
    # + 1e-12 as a layer: an empty text's norm is 0 (and a keras.ops call with a number argument does not load
    # from .h5)
    norm2 = layers.Rescaling(1.0, offset=1e-12, **f32, name="norm_epsilon")(norm2)
    h = layers.Multiply(**f32, name="l2_normalized")([summed, ops.rsqrt(norm2)])
    out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(h)
    model = keras.Model(ids, out, name="text_linear")
    weights = np.ones((n, 1), np.float32) if idf is None else np.asarray(idf, np.float32).reshape(n, 1).copy()
    weights[0] = 0.0
    model.get_layer("idf").set_weights([weights])
    model.get_layer("sublinear_tf").set_weights([tf_table])
    model.get_layer("sublinear_tf_squared").set_weights([tf2_table])
    return model
