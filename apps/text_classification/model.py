"""Text classifiers over token ids (int32, 0 = padding): linear, bow, cnn, bilstm, transformer.

All four are functional models of Keras core layers (no custom classes), so
``.keras`` loads with plain ``keras.models.load_model`` and TFLite, ONNX and
Core ML convert them with builtin ops. Padding (id 0) is masked. Keras 3
records the padding mask as a ``NotEqual`` op node, which the legacy ``.h5``
loader does not know by itself: ``export/keras_files.h5_custom_objects`` names
it (``edgesuite.load`` passes it for you). The tokenizer is not
in this model: training feeds ids from the tf.data pipeline, and export puts
the tokenizer in front of it for the formats that take strings.

- ``linear``: TF-IDF-weighted n-grams into one softmax layer, the neural twin of the TF-IDF + logistic
  regression baseline: per id a learned vector of class scores times its fixed inverse document frequency
  (from the training split), masked mean over the text, then the softmax layer.
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


def build(cfg, num_classes: int, vocab_size: int, input_length: int, idf=None):
    """``input_length``: ids per text the model takes (the tokenizer's ``output_length``: word pieces, and for
    the bag models their hashed bigrams after them); ``idf``: the linear model's fixed input weights, one per
    id (None: ones)."""
    import keras
    from keras import layers

    d = cfg.embed_dim
    ids = keras.Input(shape=(input_length,), dtype="int32", name="token_ids")
    if cfg.model == "linear":
        n = vocab_size + cfg.bigram_buckets
        scores = layers.Embedding(n, num_classes, mask_zero=True, name="ngram_weights")(ids)
        weight = layers.Embedding(n, 1, mask_zero=True, trainable=False, embeddings_initializer="ones", name="idf")(ids)
        h = layers.GlobalAveragePooling1D(name="mean")(layers.Multiply(name="tfidf")([scores, weight]))
        out = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(h)
        model = keras.Model(ids, out, name="text_linear")
        if idf is not None:
            import numpy as np

            model.get_layer("idf").set_weights([np.asarray(idf, np.float32).reshape(n, 1)])
        return model
    if cfg.model == "bow":
        x = layers.Embedding(vocab_size + cfg.bigram_buckets, d, mask_zero=True, name="token_embedding")(ids)
        h = layers.GlobalAveragePooling1D(name="mean")(x)
    elif cfg.model == "cnn":
        x = layers.Embedding(vocab_size, d, name="token_embedding")(ids)
        x = layers.SpatialDropout1D(0.1)(x)
        pooled = [layers.GlobalMaxPooling1D()(layers.Conv1D(cfg.hidden, w, padding="same", activation="relu",
                                                            name=f"conv{w}")(x)) for w in (3, 5)]
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
                y, y, query_mask=pad, value_mask=pad)
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
