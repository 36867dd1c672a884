"""An encoder-decoder Transformer over token ids, and greedy decoding inside the TensorFlow graph.

The trained model is one functional Keras model of two nested ones:

    probabilities = head(decoder([target_ids, encoder(source_ids), source_ids]))   # (N, T, V_target)

``encoder`` (source ids -> memory) and ``decoder`` (shifted target ids, memory,
source ids -> hidden states) are separate sub-models so decoding runs the
encoder once per sentence and only the decoder per output token; ``head`` is
the float32 softmax over the target vocabulary. Training feeds the shifted
target (teacher forcing). All layers are Keras core (token and position
embeddings, pre-norm blocks of ``MultiHeadAttention`` with explicit padding
masks and the decoder's causal mask, ReLU feed-forward: exact GELU becomes
Erfc, which tf2onnx cannot convert), so ``.keras`` / ``.h5`` load with plain
Keras and every converter sees builtin ops. Pre-norm (LayerNorm before each
sub-layer) rather than the original post-norm: it trains without a long
warm-up, which matters when the budget is minutes on a CPU.

Id 0 is padding in both vocabularies; the target vocabulary reserves
``[START]`` (2) and ``[END]`` (3) after ``[PAD]`` and ``[UNK]``.
"""

from __future__ import annotations

import keras
from keras import ops

from edgesuite.apps.translation.postprocess import END_ID, GLUE, SPACE, START_ID

START, END = "[START]", "[END]"
TARGET_RESERVED = (START, END, GLUE, SPACE)  # after [PAD], [UNK]: ids 2 to 5 (the spacing marks: postprocess.py)


def _embed(ids, vocab_size: int, cfg, name: str):
    from keras import layers

    d, max_length = cfg.d_model, cfg.max_length
    tokens = layers.Embedding(vocab_size, d, name=f"{name}_tokens")(ids)
    # positions 1..T of whatever length comes in (training batches are trimmed to their longest row); row 0 of
    # the table is unused: no scalar arithmetic on the tensor, which the legacy .h5 loader cannot rebuild
    positions = ops.cumsum(ops.ones_like(ids), axis=1)
    pos = layers.Embedding(max_length + 1, d, name=f"{name}_positions")(positions)
    # no sqrt(d) scale on the tokens (GPT-2 style, as KerasHub's TokenAndPositionEmbedding): scaled tokens
    # drown the learned positions (tests/benchmarks/RESULTS.md, translation)
    x = layers.Add(name=f"{name}_embed")([tokens, pos])
    return layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)  # --dropout, as every block


def _ffn(x, cfg, name: str):
    from keras import layers

    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln_ffn")(x)
    y = layers.Dense(cfg.ffn, activation="relu", name=f"{name}_ffn1")(y)
    y = layers.Dense(cfg.d_model, name=f"{name}_ffn2")(y)
    return layers.Add()([x, layers.Dropout(cfg.dropout)(y)])


def _attend(x, context, cfg, name: str, **masks):
    """Pre-norm attention sub-layer: x + Dropout(MHA(LN(x), context)); ``context`` None: self-attention."""
    from keras import layers

    block, kind = name.rsplit("_", 1)  # enc0_att -> LayerNormalization enc0_ln_att
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{block}_ln_{kind}")(x)
    y = layers.MultiHeadAttention(cfg.heads, cfg.d_model // cfg.heads, dropout=cfg.dropout, name=name)(
        y, y if context is None else context, **masks
    )
    return layers.Add()([x, layers.Dropout(cfg.dropout)(y)])


def build_encoder(cfg, vocab_size: int):
    from keras import layers

    ids = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    pad = ops.not_equal(ids, 0)
    x = _embed(ids, vocab_size, cfg, "source")
    for i in range(cfg.layers):
        x = _attend(x, None, cfg, f"enc{i}_att", query_mask=pad, value_mask=pad)
        x = _ffn(x, cfg, f"enc{i}")
    memory = layers.LayerNormalization(epsilon=1e-6, name="enc_ln")(x)
    return keras.Model(ids, memory, name="encoder")


def build_decoder(cfg, vocab_size: int, copy: bool = False, copy_next: bool = False):
    """``copy``: the decoder ends in the copy head (:func:`copy_mix`) and gives probabilities, not hidden states;
    ``copy_next``: its pointer also reads which source pieces follow the piece just written (:func:`pointer`)."""
    from keras import layers

    ids = keras.Input(shape=(None,), dtype="int32", name="target_ids")
    memory = keras.Input(shape=(None, cfg.d_model), name="memory")
    source = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    pad, source_pad = ops.not_equal(ids, 0), ops.not_equal(source, 0)
    x = _embed(ids, vocab_size, cfg, "target")
    for i in range(cfg.layers):
        x = _attend(x, None, cfg, f"dec{i}_self", query_mask=pad, value_mask=pad, use_causal_mask=True)
        x = _attend(x, memory, cfg, f"dec{i}_cross", query_mask=pad, value_mask=source_pad)
        x = _ffn(x, cfg, f"dec{i}")
    hidden = layers.LayerNormalization(epsilon=1e-6, name="dec_ln")(x)
    if copy:
        vocab = layers.Dense(vocab_size, activation="softmax", dtype="float32", name="vocab_probabilities")(hidden)
        gate = layers.Dense(1, activation="sigmoid", dtype="float32", name="copy_gate")(hidden)
        table = one_hot_table(vocab_size)
        written = ids if copy_next else None
        attention = pointer(hidden, memory, source, vocab_size, cfg.d_model, written=written, table=table)
        hidden = copy_mix(vocab, gate, attention, source, vocab_size, table=table)
    return keras.Model([ids, memory, source], hidden, name="decoder")


PADDING_SCORE = (
    -100.0
)  # added to the pointer's scores at padded source positions: e^-100 of the weight, a range int8 holds


def one_hot_table(vocab_size: int):
    """A fixed identity embedding: ids (N, L) -> their one-hot rows (N, L, V), as a Keras core layer."""
    from keras import layers

    return layers.Embedding(
        vocab_size, vocab_size, embeddings_initializer="identity", trainable=False, name="copy_one_hot", dtype="float32"
    )


def pointer(hidden, memory, source, vocab_size: int, width: int, written=None, table=None):
    """The copy head's attention over the source pieces, (N, T, S) weights: a scaled dot product of a query from the
    decoder's states with the encoder's memory, padding pushed ``PADDING_SCORE`` down by a fixed one-column
    embedding of the source ids (core layers: the legacy .h5 loader rebuilds neither ``keras.ops`` arithmetic nor
    ``layers.Attention``'s score mode).

    ``written`` (the decoder's input ids, (N, T): the piece written before each step) adds a learned weight,
    ``w(state)``, to the score of every source position that follows a piece equal to the one just written: copying
    a word spelled in several pieces walks on to the next piece instead of finding it again by content (a new name
    in single letters stuttered, 'Velmi' -> 'Velmlml', where each letter's query matched the letters before it)."""
    from keras import layers

    f32 = {"dtype": "float32"}
    query = layers.Dense(width, name="copy_query")(hidden)
    scores = layers.Dot(axes=(2, 2), name="copy_scores", **f32)([query, memory])  # (N, T, S)
    if written is not None:
        table = table or one_hot_table(vocab_size)
        # row s: the one-hot of source piece s - 1 (zeros at s = 0)
        before = layers.Cropping1D((0, 1), **f32)(layers.ZeroPadding1D((1, 0), **f32)(table(source)))  # (N, S, V)
        follows = layers.Dot(axes=(2, 2), name="copy_follows", **f32)([table(written), before])  # (N, T, S) 0/1
        weight = layers.Dense(1, kernel_initializer="zeros", name="copy_next_weight", **f32)(hidden)  # (N, T, 1)
        scores = layers.Add(**f32)([scores, layers.Multiply(**f32)([weight, follows])])
    padding = layers.Embedding(vocab_size, 1, trainable=False, name="copy_padding", **f32)
    bias = layers.Permute((2, 1), **f32)(padding(source))  # (N, 1, S)
    table = padding.get_weights()[0] * 0.0
    table[0] = PADDING_SCORE
    padding.set_weights([table])
    return layers.Softmax(axis=-1, name="copy_attention", **f32)(layers.Add(**f32)([scores, bias]))


def copy_mix(vocab, gate, attention, source, vocab_size: int, table=None):
    """The copy head (pointer-generator, See et al. 2017) over a vocabulary both sides share:

        p = copied + gate * (p_vocab - copied),   copied = attention @ one_hot(source_ids)      # (N, T, V)

    ``attention`` (N, T, S): the pointer's weights over the source pieces; a piece the softmax never learned to
    write (a name unseen in training) still gets the weight the pointer gives its source position. Keras core
    layers only (the one-hot rows are a fixed identity embedding), so plain ``keras.models.load_model`` reads the
    ``.keras`` and ``.h5`` and every converter sees builtin ops; the identity table (``table``, shared with the
    pointer's, or one of its own) is V x V floats (19 MB at V = 2,200).
    """
    from keras import layers

    f32 = {"dtype": "float32"}
    one_hot = (table or one_hot_table(vocab_size))(source)  # (N, S, V)
    copied = layers.Dot(axes=(2, 1), name="copy_probabilities", **f32)([attention, one_hot])  # (N, T, V)
    return layers.Add(name="copy_mix", **f32)(
        [copied, layers.Multiply(**f32)([gate, layers.Subtract(**f32)([vocab, copied])])]
    )


def build(cfg, source_vocab: int, target_vocab: int, copy: bool = False, copy_next: bool = False):
    """The teacher-forcing model: ``[source_ids (N, S), target_ids (N, T)]`` -> probabilities (N, T, V).
    ``copy`` (one vocabulary for both sides): the decoder mixes in the copy head and gives the probabilities,
    and ``probabilities`` passes them on; ``copy_next``: see :func:`pointer`."""
    from keras import layers

    source = keras.Input(shape=(None,), dtype="int32", name="source_ids")
    target = keras.Input(shape=(None,), dtype="int32", name="target_ids")
    encoder, decoder = build_encoder(cfg, source_vocab), build_decoder(cfg, target_vocab, copy, copy_next)
    hidden = decoder([target, encoder(source), source])
    if copy:
        probs = layers.Activation("linear", dtype="float32", name="probabilities")(hidden)
    else:  # the softmax in float32 under mixed precision
        probs = layers.Dense(target_vocab, activation="softmax", dtype="float32", name="probabilities")(hidden)
    return keras.Model([source, target], probs, name="translator")


def parts(model):
    """(encoder, decoder, head) of a model made by ``build``."""
    return model.get_layer("encoder"), model.get_layer("decoder"), model.get_layer("probabilities")


def greedy_decoder(model, max_length: int, fixed_buffer: bool = False, rules: dict | None = None):
    """A function ``source_ids (N, S) int32 -> target ids (N, max_length) int32`` (0 after ``[END]``).

    Runs in graph mode (``tf.while_loop``): the encoder once, then the decoder
    on the prefix written so far, taking the most probable next token from the
    last position only. ``fixed_buffer=True`` runs the decoder on the whole
    ``max_length`` buffer every step instead (positions past the prefix are
    padding, which the causal mask hides), so every tensor in the loop has a
    static shape: what TFLite's WHILE needs. Both give the same ids.
    ``rules`` (``postprocess.DECODING_RULES``): the repeats banned and the length
    bound, computed as ``postprocess.banned_next`` / ``length_limits`` do.
    """
    import tensorflow as tf

    from edgesuite.apps.translation.postprocess import DECODING_RULES

    encoder, decoder, head = parts(model)
    rules = {**DECODING_RULES, **(rules or {})}

    def decode(source_ids):
        source_ids = tf.cast(source_ids, tf.int32)
        n = tf.shape(source_ids)[0]
        memory = encoder(source_ids, training=False)
        out = tf.zeros([n, max_length], tf.int32)
        done = tf.reduce_all(tf.equal(source_ids, 0), axis=1)  # an empty text translates to nothing
        start = tf.fill([n, 1], START_ID)
        positions = tf.range(max_length)[None, :]
        limit = _length_limits(source_ids, max_length, rules)

        def step(t, out, done):
            prefix = tf.concat([start, out[:, : max_length - 1]], axis=1)  # [START] + tokens so far
            if not fixed_buffer:
                prefix = prefix[:, : t + 1]
            else:  # tokens past t are zeros (padding) already; keep the buffer's static length
                prefix = tf.where(positions <= t, prefix, tf.zeros_like(prefix))
            hidden = decoder([prefix, memory, source_ids], training=False)
            last = tf.gather(hidden, t, axis=1) if fixed_buffer else hidden[:, -1]
            probs = head(last)
            probs = tf.where(_banned(out, t, tf.shape(probs)[-1], rules), -1.0, probs)
            token = tf.cast(tf.argmax(probs, axis=-1), tf.int32)
            token = tf.where(t >= limit, tf.fill([n], END_ID), token)
            token = tf.where(done, tf.zeros_like(token), token)
            out = tf.where(tf.equal(positions, t), token[:, None], out)
            return t + 1, out, tf.logical_or(done, tf.equal(token, END_ID))

        def more(t, out, done):
            return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(done)))

        _, out, _ = tf.while_loop(more, step, [tf.constant(0), out, done], maximum_iterations=max_length)
        return out

    return decode


def _length_limits(source_ids, max_length: int, rules: dict):
    """``postprocess.length_limits`` in the graph: (N,) int32, integer arithmetic as there."""
    import tensorflow as tf

    n = tf.reduce_sum(tf.cast(source_ids > 0, tf.int32), axis=1)
    if not rules["length_ratio_pct"]:
        return tf.fill(tf.shape(n), max_length)
    return tf.minimum(max_length - 1, (rules["length_ratio_pct"] * n + 99) // 100 + rules["length_extra"])


def _banned(out, t, vocab, rules: dict):
    """``postprocess.banned_next`` for every row at step ``t`` (``out[:, :t]`` written): (N, V) bool. Static shapes
    (one SCATTER_ND over every window of the buffer, its matches as the updates): what TFLite's WHILE holds."""
    import tensorflow as tf

    rows, length = tf.shape(out)[0], out.shape[1]
    run, k = rules["max_run"], rules["no_repeat_ngram"] - 1  # k: the tokens a repeat is judged by
    row_ids = tf.range(rows)[:, None]
    parts = []  # (row, token) pairs to ban, each with a 0/1 update
    if run:
        tail = tf.stack([tf.gather(out, tf.maximum(t - 1 - i, 0), axis=1) for i in range(run)], axis=1)  # (N, run)
        same = tf.logical_and(t >= run, tf.reduce_all(tf.equal(tail, tail[:, :1]), axis=1))
        parts.append((tf.stack([row_ids[:, 0], tail[:, 0]], -1)[:, None], tf.cast(same, tf.float32)[:, None]))
    if k > 0 and length > k:
        last = [tf.gather(out, tf.maximum(t - k + i, 0), axis=1)[:, None] for i in range(k)]  # the last k tokens
        windows = length - k
        match = tf.range(windows)[None, :] + k < t  # the follower out[:, j + k] is written
        for i in range(k):
            match = tf.logical_and(match, tf.equal(out[:, i : i + windows], last[i]))
        match = tf.logical_and(match, t >= k)
        follower = out[:, k:]
        index = tf.stack([tf.broadcast_to(row_ids, tf.shape(follower)), follower], -1)  # (N, windows, 2)
        parts.append((index, tf.cast(match, tf.float32)))
    # never padding, never a second [START] (as beam_search)
    for never in (0, START_ID):
        parts.append((tf.stack([row_ids[:, 0], tf.fill([rows], never)], -1)[:, None], tf.ones([rows, 1], tf.float32)))
    index = tf.concat([tf.reshape(i, [-1, 2]) for i, _ in parts], 0)
    update = tf.concat([tf.reshape(u, [-1]) for _, u in parts], 0)
    return tf.scatter_nd(index, update, tf.stack([rows, vocab])) > 0


@keras.saving.register_keras_serializable(package="edgesuite")
class SmoothedTokenCrossentropy(keras.losses.Loss):
    """Token cross-entropy against label-smoothed targets, from probabilities.

        loss = SmoothedTokenCrossentropy(smoothing=0.1)   # y_true (N, T) ids, y_pred (N, T, V)

    Smoothed targets put ``1 - smoothing`` on the true token and spread
    ``smoothing`` evenly over the vocabulary. Padding positions get sample
    weight 0 from the pipeline, and the mean is over the weighted (real)
    tokens (``mean_with_sample_weight``), so short and long batches weigh each
    token alike. Keras's sparse cross-entropy has no label smoothing.
    """

    def __init__(self, smoothing: float = 0.1, name: str = "token_crossentropy", **kwargs):
        kwargs.setdefault("reduction", "mean_with_sample_weight")
        super().__init__(name=name, **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        logp = ops.log(ops.clip(ops.cast(y_pred, "float32"), 1e-7, 1.0))
        true = ops.take_along_axis(logp, ops.expand_dims(ops.cast(y_true, "int32"), -1), axis=-1)[..., 0]
        return -(1.0 - self.smoothing) * true - self.smoothing * ops.mean(logp, axis=-1)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


@keras.saving.register_keras_serializable(package="edgesuite")
class TokenAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Next-token accuracy over real tokens: positions whose label is padding (id 0) do not count.

    Keras 3's compiled metrics do not apply the pipeline's per-token sample
    weights (seen: a batch right on every real token and wrong on the padding
    scored 0.625), so the mask comes from the labels themselves and
    ``sample_weight`` is not used.
    """

    def __init__(self, name: str = "token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        real = ops.cast(ops.not_equal(ops.cast(y_true, "int32"), 0), "float32")
        return super().update_state(y_true, y_pred, sample_weight=real)
