"""Both architectures give per-pixel probabilities; the loss ignores the ignore index."""

import numpy as np
import pytest


@pytest.mark.parametrize("name", ["unet", "deeplabv3plus"])
def test_models_map_uint8_images_to_per_pixel_probabilities(name):
    from edgesuite.apps.segmentation import model as smodel
    from edgesuite.apps.segmentation.config import Config

    m = smodel.build(Config(model=name, image_size=32, width=0.35), num_classes=5)
    assert m.inputs[0].dtype == "uint8" and m.inputs[0].shape[1:] == (32, 32, 3)
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    p = np.asarray(m(x, training=False))
    assert p.shape == (2, 32, 32, 5) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("dice_weight", [0.0, 1.0])
def test_loss_ignores_pixels_at_the_ignore_index(dice_weight):
    from edgesuite.apps.segmentation.model import CrossEntropyDice

    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, (2, 8, 8))
    truth[:, :3] = 255
    a = rng.dirichlet(np.ones(3), (2, 8, 8)).astype(np.float32)
    b = a.copy()
    b[:, :3] = rng.dirichlet(np.ones(3), (2, 3, 8))  # other predictions only where the truth is ignored
    loss = CrossEntropyDice(3, 255, dice_weight)
    assert float(loss(truth, a)) == pytest.approx(float(loss(truth, b)), rel=1e-6)
    c = a.copy()
    c[:, 5:] = rng.dirichlet(np.ones(3), (2, 3, 8))  # where it counts, the loss moves
    assert float(loss(truth, a)) != pytest.approx(float(loss(truth, c)), rel=1e-3)
    # a perfect prediction costs nothing but the log of 1
    perfect = np.eye(3, dtype=np.float32)[np.where(truth == 255, 0, truth)]
    assert float(loss(truth, perfect)) == pytest.approx(0.0, abs=1e-4)
