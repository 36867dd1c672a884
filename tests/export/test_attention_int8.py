"""Attention masks in the int8 conversion graph: the same outputs in float, scores that int8 can hold."""

import numpy as np


def _attention_model():
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(0)
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    pad = ops.not_equal(ids, 0)
    x = layers.Embedding(50, 16, name="embed")(ids)
    x = layers.MultiHeadAttention(2, 8, dropout=0.1, name="self")(
        x, x, query_mask=pad, value_mask=pad, use_causal_mask=True
    )
    y = layers.MultiHeadAttention(2, 8, name="fused")(x, x, query_mask=pad, value_mask=pad)  # dropout 0: fused path
    out = layers.Dense(5, activation="softmax", name="probabilities")(layers.GlobalAveragePooling1D()(y))
    return keras.Model(ids, out)


def _context(model):
    from edgesuite.export.context import ExportContext

    spec = {"name": "ids", "shape": [None], "dtype": "int32"}
    return ExportContext(
        model=model, metadata={"input": spec, "outputs": ["probabilities"]}, out_dir=None, representative=None
    )


def test_conversion_model_keeps_the_float_outputs_with_bounded_masks():
    from edgesuite.export.context import BoundedMaskAttention

    model = _attention_model()
    clone = _context(model).numeric_input_model()
    kinds = {layer.name: type(layer) for layer in clone._flatten_layers()}
    assert kinds["self"] is BoundedMaskAttention and kinds["fused"] is BoundedMaskAttention
    ids = np.array([[3, 7, 9, 0, 0, 0], [4, 4, 8, 12, 30, 2], [5, 0, 0, 0, 0, 0]], np.int32)
    np.testing.assert_allclose(clone(ids, training=False), model(ids, training=False), atol=1e-6)


def test_int8_attention_scores_keep_a_usable_scale():
    """Keras's -1e9 for masked scores made the int8 scale of the scores 3.9e6: every real score became 0."""
    from ai_edge_litert.interpreter import Interpreter

    from edgesuite.export import tflite

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, (20, 8)).astype(np.int32)
    for row, n in zip(ids, rng.integers(2, 8, 20)):
        row[n:] = 0
    ctx = _context(_attention_model())
    ctx.representative = ids
    try:
        interp = Interpreter(model_content=tflite.convert(ctx, "int8"))
    finally:
        ctx.close()
    scales = {
        t["name"]: float(np.max(t["quantization_parameters"]["scales"]))
        for t in interp.get_tensor_details()
        if t["dtype"] == np.int8 and len(t["quantization_parameters"]["scales"])
    }
    assert any("self" in name for name in scales) and any("fused" in name for name in scales)
    assert max(scales.values()) < 1.0, max(scales.items(), key=lambda kv: kv[1])
