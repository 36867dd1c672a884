"""The shared MobileNetV2 backbone: statistics that keep up with training, weights from a file or a run."""

import pytest

from edgesuite.common.errors import UserInputError


def test_batchnorm_statistics_follow_training_within_an_epoch():
    import keras

    from edgesuite.common.blocks import mobilenetv2

    net = mobilenetv2(32, 0.35)
    bns = [layer for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and {layer.momentum for layer in bns} == {0.9}  # Keras' 0.999 left validation at chance


def test_weights_from_a_file_and_errors_name_it(tmp_path):
    import numpy as np

    from edgesuite.common.blocks import mobilenetv2

    source = mobilenetv2(32, 0.35)
    path = tmp_path / "b.weights.h5"
    source.save_weights(path)
    again = mobilenetv2(64, 0.35, str(path))  # another image side: the convolutions are the same
    np.testing.assert_array_equal(again.get_layer("Conv1").get_weights()[0], source.get_layer("Conv1").get_weights()[0])
    with pytest.raises(UserInputError, match="cannot load backbone weights"):
        mobilenetv2(32, 0.5, str(path))
    with pytest.raises(UserInputError, match="not a finished run"):
        mobilenetv2(32, 0.35, str(tmp_path))
