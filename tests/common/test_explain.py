"""Explanations point at what a model learned: the bright square, the planted keyword (small models, seconds)."""

from __future__ import annotations

import numpy as np
import pytest

SIDE = 24


def _squares(n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey noise; half the images hold a bright 7-px square at a random place (returned: its corner)."""
    x = rng.integers(0, 90, (n, SIDE, SIDE, 1)).astype(np.uint8)
    y = np.arange(n) % 2
    corners = rng.integers(0, SIDE - 7, (n, 2))
    for i in np.flatnonzero(y):
        r, c = corners[i]
        x[i, r : r + 7, c : c + 7] = 255
    return x, y, corners


@pytest.fixture(scope="module")
def square_model():
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIDE, SIDE, 1), dtype="uint8")
    h = keras.layers.Rescaling(1 / 255)(inputs)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="features")(h)
    h = keras.layers.GlobalMaxPooling2D()(h)
    outputs = keras.layers.Dense(2, activation="softmax", dtype="float32")(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y, _ = _squares(400, np.random.default_rng(0))
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    return model


class _Predictor:
    """What ``edgesuite.load`` gives, over a Keras model: metadata, codec, raw outputs."""

    def __init__(self, model, names):
        from edgesuite.apps import get_codec

        self.model, self.codec = model, get_codec("image-classification")
        self.metadata = {"class_names": names, "input": {"shape": [SIDE, SIDE, 1], "dtype": "uint8"}}

    def predict_raw(self, x):
        return np.asarray(self.model(np.asarray(x), training=False))


def _on_square(heat, corner) -> bool:
    r, c = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return corner[0] - 2 <= r <= corner[0] + 8 and corner[1] - 2 <= c <= corner[1] + 8


def test_grad_cam_and_occlusion_peak_on_the_bright_square(square_model, tmp_path):
    from edgesuite.apps.image_classification.inspector import explain

    x, y, corners = _squares(12, np.random.default_rng(7))
    held = np.flatnonzero(y)[:5]
    predictor = _Predictor(square_model, ["plain", "square"])
    assert (square_model.predict(x[held], verbose=0).argmax(1) == 1).all()
    shown = explain(square_model, predictor, list(x[held]), save_dir=tmp_path, target="plain")
    assert all(_on_square(s["maps"]["square"], corners[i]) for s, i in zip(shown, held))
    assert all((tmp_path / f"input{j}_explain.png").is_file() for j in range(len(held)))
    files = explain(None, predictor, list(x[held[:2]]))  # an exported file: occlusion
    assert files[0]["method"] == "occlusion"
    assert all(_on_square(s["maps"]["square"], corners[i]) for s, i in zip(files, held[:2]))


def test_text_attributions_put_the_planted_keyword_first():
    from edgesuite.common import explain as cx

    def predict(texts):  # a model that learned one word: 'splendid' is the positive class
        p = np.array([0.9 if "splendid" in t.split() else 0.2 for t in texts])
        return np.stack([1 - p, p], 1)

    tokens = cx.word_occlusion(predict, "the plot was splendid and long", 1)
    assert max(tokens, key=lambda t: t[1])[0] == "splendid"
    assert "splendid" in cx.tokens_html([("t", tokens, "occlusion")])
    assert cx.tokens_terminal(tokens).startswith("splendid")


def test_integrated_gradients_put_the_planted_token_first():
    import keras

    from edgesuite.common import explain as cx

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    ids = rng.integers(6, 30, (300, 8))
    y = np.arange(300) % 2
    ids[y == 1, rng.integers(0, 8, int(y.sum()))] = 5  # token 5 makes the positive class
    inputs = keras.Input((8,), dtype="int32")
    h = keras.layers.Embedding(30, 8)(inputs)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(3e-2), "sparse_categorical_crossentropy")
    model.fit(ids, y, epochs=15, batch_size=32, verbose=0)
    probe = np.array([7, 9, 5, 11, 12, 20, 8, 6])
    scores = cx.integrated_gradients(model, probe, 1)
    assert int(np.argmax(scores)) == 2
