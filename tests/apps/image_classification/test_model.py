"""The saved classifier behaves the same however a user calls it."""

import numpy as np
import pytest

from edgesuite.apps.image_classification.model import build_cnn, build_mobilenetv2


@pytest.mark.parametrize("build", [lambda: build_cnn(3, 28, 1), lambda: build_mobilenetv2(3, 32, 3, width=0.35)])
def test_plain_call_is_inference_and_leaves_batchnorm_statistics_alone(build, tmp_path):
    import keras

    model = build()
    size, channels = model.input.shape[1], model.input.shape[3]
    model.save(tmp_path / "m.keras")
    model = keras.models.load_model(tmp_path / "m.keras")
    x = np.random.default_rng(0).integers(0, 256, (8, size, size, channels), dtype=np.uint8)
    stats = [w.numpy().copy() for w in model.non_trainable_weights]
    reference = np.asarray(model(x, training=False))
    np.testing.assert_allclose(np.asarray(model(x)), reference, atol=1e-6)   # what users write after load_model
    np.testing.assert_allclose(model.predict(x, verbose=0), reference, atol=1e-6)
    for before, after in zip(stats, model.non_trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert model.input.dtype == "uint8"
