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
    np.testing.assert_allclose(np.asarray(model(x)), reference, atol=1e-6)  # what users write after load_model
    np.testing.assert_allclose(model.predict(x, verbose=0), reference, atol=1e-6)
    for before, after in zip(stats, model.non_trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert model.input.dtype == "uint8"


@pytest.mark.parametrize("build", [lambda: build_cnn(3, 28, 1), lambda: build_mobilenetv2(3, 32, 1, width=0.35)])
def test_the_mirror_average_is_the_mean_of_the_image_and_its_mirror_and_loads_with_plain_keras(build, tmp_path):
    import keras

    from edgesuite.apps.image_classification.model import with_mirror_average

    plain = build()
    averaged = with_mirror_average(plain)
    size, channels = plain.input.shape[1], plain.input.shape[3]
    x = np.random.default_rng(0).integers(0, 256, (6, size, size, channels), dtype=np.uint8)
    x[0, :, : size // 2] = x[0, :, size // 2 :][:, ::-1]  # a symmetric image: the average is its own prediction
    want = (plain.predict(x, verbose=0) + plain.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(averaged.predict(x, verbose=0), want, atol=1e-6)
    np.testing.assert_allclose(want[0], plain.predict(x[:1], verbose=0)[0], atol=1e-6)
    # the same weights (and the frozen mirror): what the exporter's rebuild under float32 relies on
    assert [w.path for w in averaged.trainable_weights] == [w.path for w in plain.trainable_weights]
    assert len(averaged.weights) == len(plain.weights) + 1 and averaged.output.shape == plain.output.shape
    assert averaged.output_names == ["probabilities"]  # what MediaPipe's metadata and the runtimes look for
    for suffix in ("keras", "h5"):
        averaged.save(tmp_path / f"m.{suffix}")
        loaded = keras.models.load_model(tmp_path / f"m.{suffix}")
        np.testing.assert_allclose(loaded.predict(x, verbose=0), want, atol=1e-6)


@pytest.mark.parametrize(
    "model, augment, tta, expected",
    [
        ("cnn", "flip,erase", "auto", "flip"),
        ("cnn", "translate=0.1", "auto", "none"),  # digits: a mirror changes the class
        ("cnn", "flip=vertical", "auto", "none"),
        ("mobilenetv2", "flip,erase", "auto", "none"),  # twice a phone's latency is asked for, not given
        ("mobilenetv2", "none", "flip", "flip"),
        ("cnn", "flip", "none", "none"),
    ],
)
def test_tta_auto_follows_the_training_flips_and_the_model(model, augment, tta, expected, capsys):
    from edgesuite.apps.image_classification.config import Config
    from edgesuite.apps.image_classification.task import TASK

    assert TASK._tta(Config(model=model, augment=augment, tta=tta)) == expected
    # asked for on a model that never sees a mirror image while training: said, not refused
    assert ("warning: --tta flip" in capsys.readouterr().err) == (tta == "flip" and "flip" not in augment)
