"""The driver's building blocks: optimizers, schedules, penalties, class weights."""

import dataclasses
import gzip

import numpy as np
import pytest

from edgesuite.apps.image_classification.config import Config
from edgesuite.common.training import apply_kernel_penalties, build_optimizer, build_schedule, class_weights


@pytest.mark.parametrize("name,cls", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"),
                                      ("rmsprop", "RMSprop"), ("adagrad", "Adagrad")])
def test_each_optimizer_with_clipping_and_accumulation(name, cls):
    cfg = dataclasses.replace(Config(), optimizer=name, clipnorm=1.0, grad_accum_steps=4, schedule="constant", lr=0.01)
    opt = build_optimizer(cfg, steps_per_epoch=10)
    assert type(opt).__name__ == cls
    assert opt.global_clipnorm == 1.0 and opt.gradient_accumulation_steps == 4
    assert float(opt.learning_rate) == pytest.approx(0.01)


def test_schedules_follow_their_shape():
    cfg = dataclasses.replace(Config(), lr=0.1, epochs=10, warmup_epochs=2, decay_rate=0.5)
    steps = 100
    warm = build_schedule(dataclasses.replace(cfg, schedule="warmup_cosine"), steps)
    assert float(warm(0)) == pytest.approx(0.001)            # starts at lr/100
    assert float(warm(100)) == pytest.approx(0.0505, rel=1e-3)  # half-way up the warm-up
    assert float(warm(200)) == pytest.approx(0.1)             # peak after warm-up
    assert float(warm(1000)) == pytest.approx(0.001, rel=1e-3)  # cosine down to alpha * lr
    cos = build_schedule(dataclasses.replace(cfg, schedule="cosine"), steps)
    assert float(cos(0)) == pytest.approx(0.1) and float(cos(500)) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5), rel=1e-3)
    exp = build_schedule(dataclasses.replace(cfg, schedule="exponential"), steps)
    assert float(exp(200)) == pytest.approx(0.1 * 0.25)        # decay_rate per epoch
    assert build_schedule(dataclasses.replace(cfg, schedule="plateau"), steps) == 0.1


def test_kernel_penalties_add_to_the_loss():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    assert apply_kernel_penalties(model, l1=0.0, l2=0.0) == 0 and not model.losses
    assert apply_kernel_penalties(model, l1=0.0, l2=0.5) == 2
    expected = 0.5 * sum(float(np.sum(np.square(layer.kernel.numpy()))) for layer in model.layers)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_balanced_class_weights():
    assert class_weights([30, 10], "balanced") == {0: pytest.approx(40 / 60), 1: pytest.approx(2.0)}
    assert class_weights([30, 10], "none") is None


def test_idx_reader_round_trip(tmp_path):
    from edgesuite.common.datasets.fashion_mnist import read_idx

    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    with gzip.open(tmp_path / "x.gz", "wb") as f:
        f.write(header + arr.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), arr)
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(header + arr.tobytes()[:-1])
    with pytest.raises(ValueError, match="header says"):
        read_idx(tmp_path / "bad.gz")
