"""The driver's building blocks: optimizers, schedules, penalties, class weights."""

import dataclasses
import gzip

import numpy as np
import pytest

from edgesuite.apps.image_classification.config import Config
from edgesuite.common.errors import UserInputError
from edgesuite.common.training import apply_kernel_penalties, build_optimizer, build_schedule, class_weights


@pytest.mark.parametrize(
    "name,cls", [("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"), ("rmsprop", "RMSprop"), ("adagrad", "Adagrad")]
)
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
    assert float(warm(0)) == pytest.approx(0.001)  # starts at lr/100
    assert float(warm(100)) == pytest.approx(0.0505, rel=1e-3)  # half-way up the warm-up
    assert float(warm(200)) == pytest.approx(0.1)  # peak after warm-up
    assert float(warm(1000)) == pytest.approx(0.001, rel=1e-3)  # cosine down to alpha * lr
    cos = build_schedule(dataclasses.replace(cfg, schedule="cosine"), steps)
    assert float(cos(0)) == pytest.approx(0.1) and float(cos(500)) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5), rel=1e-3)
    exp = build_schedule(dataclasses.replace(cfg, schedule="exponential"), steps)
    assert float(exp(200)) == pytest.approx(0.1 * 0.25)  # decay_rate per epoch
    assert build_schedule(dataclasses.replace(cfg, schedule="plateau"), steps) == 0.1
    inv = build_schedule(dataclasses.replace(cfg, schedule="inverse_time"), steps)
    assert float(inv(0)) == pytest.approx(0.1) and float(inv(300)) == pytest.approx(0.1 / (1 + 0.5 * 3))
    step = build_schedule(dataclasses.replace(cfg, schedule="step", step_at="0.5,0.75", step_factor=0.1), steps)
    # boundaries at 500 and 750 of the 1,000 steps: 0.1, then 0.01, then 0.001
    assert [float(step(s)) for s in (0, 499, 501, 749, 751, 999)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


@pytest.mark.parametrize("bad", ["", "0.5,x", "0.75,0.5", "1.0", "0"])
def test_step_boundaries_are_checked_with_the_knob_named(bad):
    with pytest.raises(UserInputError, match="step_at: expected ascending shares"):
        dataclasses.replace(Config(), schedule="step", step_at=bad).validate()


def test_the_step_schedule_is_stretched_over_the_epochs_a_time_budget_plans():
    """Under --time-budget the step boundaries are shares of the planned training, as the cosine's end is:
    7 epochs fit (as in the test below), so the rate drops at steps 28 and 42 of 56, not of 50 epochs."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = dataclasses.replace(Config(), schedule="step", lr=0.1, epochs=50, time_budget=1.0)
    state, clock = {"epoch": 0}, [0.0]
    _, budget, rates, _ = _budget_fit(cfg, x, y, state, lambda e: 12.0 if e == 0 else 8.0, clock)
    assert state["epoch"] == 7
    full = build_schedule(dataclasses.replace(cfg, epochs=7), 8)
    assert rates[16:] == pytest.approx([float(full(s)) for s in range(16, 56)], rel=1e-5)
    assert rates[-1] == pytest.approx(0.001) and rates[20] == pytest.approx(0.1)


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


def test_ema_weights_are_what_validation_and_the_epoch_end_see_and_training_resumes_on_the_raw_ones():
    """--ema: validation and every epoch's end (checkpoint, best weights) see the average of the weights the
    steps produced; the next epoch trains on from the raw weights, not from the average."""
    import keras

    from edgesuite.common.training import _ema_callbacks

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    cfg = dataclasses.replace(
        Config(), optimizer="sgd", schedule="constant", lr=0.05, momentum=0.0, weight_decay=0.0, ema=0.8
    )
    model.compile(optimizer=build_optimizer(cfg, steps_per_epoch=4), loss="mse")
    raw, average, at_epoch_end, at_epoch_begin, at_validation = [], None, [], [], []

    class Watch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            at_epoch_begin.append(model.get_weights()[0].copy())

        def on_train_batch_end(self, batch, logs=None):
            nonlocal average
            w = model.get_weights()[0].copy()
            raw.append(w)
            average = w if average is None else 0.8 * average + 0.2 * w  # Keras: the first step starts the average

        def on_test_begin(self, logs=None):
            at_validation.append(model.get_weights()[0].copy())

        def on_epoch_end(self, epoch, logs=None):
            at_epoch_end.append((model.get_weights()[0].copy(), average.copy(), raw[-1]))

    model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        validation_data=(x, y),
        shuffle=False,
        verbose=0,
        callbacks=_ema_callbacks(cfg, resumed=False) + [Watch()],
    )
    for (seen, avg, last), val in zip(at_epoch_end, at_validation):
        assert np.allclose(seen, avg, atol=1e-6) and np.allclose(val, avg, atol=1e-6)
        assert not np.allclose(seen, last, atol=1e-4), "the average differs from the last step's weights"
    for (_, _, last), begin in zip(at_epoch_end[:-1], at_epoch_begin[1:]):
        assert np.allclose(begin, last, atol=1e-6), "each epoch trains on from the raw weights"
    assert np.allclose(model.get_weights()[0], at_epoch_end[-1][1], atol=1e-6), "fit ends with the average"
    assert _ema_callbacks(dataclasses.replace(cfg, ema=0.0), resumed=False) == []


def test_a_run_resumed_from_an_ema_checkpoint_trains_on_from_the_raw_weights(tmp_path):
    """An epoch checkpoint holds the average as the model's weights and the raw ones in the optimizer:
    resuming swaps them back, so training goes on from where the steps left off."""
    import keras

    from edgesuite.common.training import _ema_callbacks

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(1).normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    cfg = dataclasses.replace(
        Config(), optimizer="sgd", schedule="constant", lr=0.05, momentum=0.0, weight_decay=0.0, ema=0.8
    )
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=build_optimizer(cfg, steps_per_epoch=4), loss="mse")
    saved = {}

    class SaveFirstEpoch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            saved["raw"] = model.get_weights()[0].copy()

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                model.save(tmp_path / "epoch-1.keras")
                saved["average"] = model.get_weights()[0].copy()
                saved["raw_at_save"] = saved["raw"]

    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=_ema_callbacks(cfg, resumed=False) + [SaveFirstEpoch()],
    )
    resumed = keras.models.load_model(tmp_path / "epoch-1.keras")
    assert np.allclose(resumed.get_weights()[0], saved["average"])
    begin = []
    watch = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: begin.append(resumed.get_weights()[0].copy()))
    resumed.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        initial_epoch=1,
        shuffle=False,
        verbose=0,
        callbacks=_ema_callbacks(cfg, resumed=True) + [watch],
    )
    assert np.allclose(begin[0], saved["raw_at_save"], atol=1e-6)
    assert not np.allclose(saved["raw_at_save"], saved["average"], atol=1e-4)


def _budget_fit(cfg, x, y, state, epoch_seconds, clock, initial_epoch=0, started=0.0, model=None):
    """Fits a one-weight model under TimeBudget with a fake clock: each epoch takes epoch_seconds(epoch)."""
    import keras

    from edgesuite.common.callbacks import TimeBudget

    if model is None:
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
        model.compile(optimizer=build_optimizer(cfg, steps_per_epoch=8), loss="mse")
    rates, logged = [], []
    budget = TimeBudget(cfg, state, steps_per_epoch=8, started=started, log=logged.append, clock=lambda: clock[0])

    class Tick(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            rates.append(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)))
            clock[0] += epoch_seconds(self.epoch) / 8

        def on_epoch_end(self, epoch, logs=None):
            state["epoch"] = epoch + 1

    model.fit(
        x,
        y,
        batch_size=8,
        epochs=cfg.epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=[Tick(), budget],
    )
    return model, budget, rates, logged


def test_time_budget_ends_training_at_the_last_epoch_that_fits_with_the_schedule_at_its_floor():
    """--time-budget 1 (60 s): a first epoch of 12 s (tracing) then 8 s ones. After epoch 1 the plan is
    4 more (48 s / 12 s), after epoch 2 five more at 8 s: 7 epochs, ending at exactly 60 s, and the
    warm-up cosine is stretched over those 7 (the rate steps up a little when the plan grows, at epoch 3),
    so the last step runs at the floor, not mid-way down."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = dataclasses.replace(Config(), schedule="warmup_cosine", lr=0.1, warmup_epochs=1, epochs=50, time_budget=1.0)
    state, clock = {"epoch": 0}, [0.0]
    _, budget, rates, logged = _budget_fit(cfg, x, y, state, lambda e: 12.0 if e == 0 else 8.0, clock)
    assert state["epoch"] == 7 and budget.stopped_epoch == 7
    assert state["seconds"] == pytest.approx(60.0) and state["epoch_seconds"] == pytest.approx(8.0)
    full = build_schedule(dataclasses.replace(cfg, epochs=7), 8)  # the schedule of a plain 7-epoch run
    assert rates[0] == pytest.approx(float(full(0))) and max(rates) == pytest.approx(0.1, rel=1e-3)
    assert rates[-1] == pytest.approx(float(full(55)), rel=1e-4) and rates[-1] < 0.002  # alpha x lr = 0.001
    # from epoch 3 on (the plan settled after epoch 2) every step runs at the 7-epoch schedule's rate
    assert rates[16:] == pytest.approx([float(full(s)) for s in range(16, 56)], rel=1e-4)
    assert "another (~8s) would not fit" in logged[-1] and "ends after epoch 7" in logged[1]


def test_time_budget_is_the_epochs_cap_when_they_fit_and_counts_earlier_processes_on_resume():
    """Epochs that fit the budget run as planned on the plain schedule; a resumed run starts its clock at
    the seconds the earlier process spent (state.json) and keeps the epoch estimate it made."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = dataclasses.replace(Config(), schedule="warmup_cosine", lr=0.1, warmup_epochs=1, epochs=4, time_budget=10.0)
    state, clock = {"epoch": 0}, [0.0]
    _, budget, rates, _ = _budget_fit(cfg, x, y, state, lambda e: 10.0, clock)
    full = build_schedule(cfg, 8)
    assert state["epoch"] == 4 and budget.stopped_epoch == 0
    assert rates == pytest.approx([float(full(s)) for s in range(32)], rel=1e-4)
    # resumed after 9 of 10 minutes at 100 s an epoch: the first resumed epoch is the last that fits
    cfg = dataclasses.replace(cfg, epochs=20)
    state = {"epoch": 3, "seconds": 540.0, "epoch_seconds": 100.0}
    clock = [1000.0]
    model, budget, rates, _ = _budget_fit(
        cfg, x, y, state, lambda e: 50.0, clock, initial_epoch=3, started=1000.0 - state["seconds"]
    )
    assert state["epoch"] == 4 and budget.stopped_epoch == 4 and state["seconds"] == pytest.approx(590.0)


def test_time_budget_plans_on_the_mean_epoch_but_starts_none_that_a_slow_spell_would_carry_past_it():
    """Epochs of 12 (tracing), 8, 8, 8 and then 13 s under a 60 s budget: the mean after the first
    (9.25 s) would fit a sixth epoch in the 11 s left, the slow last one says it would not: the run
    stops after 5, within the budget, and the plan never swung with the one slow epoch."""
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    cfg = dataclasses.replace(Config(), schedule="warmup_cosine", lr=0.1, warmup_epochs=1, epochs=50, time_budget=1.0)
    state, clock = {"epoch": 0}, [0.0]
    _, budget, _, logged = _budget_fit(cfg, x, y, state, lambda e: [12.0, 8.0, 8.0, 8.0, 13.0, 8.0][e], clock)
    assert state["epoch"] == 5 and budget.stopped_epoch == 5 and state["seconds"] == pytest.approx(49.0)
    assert "another (~13s) would not fit" in logged[-1]
    assert [m.split("ends after epoch ")[1] for m in logged[:-1]] == ["5", "7", "6"]  # 12 s, then 8 s, then 9.25 s


def test_an_ema_too_slow_for_the_run_is_warned_about_with_the_momentum_that_fits():
    """--ema 0.999 over 8 epochs of 125 steps leaves the first step's weights 0.999^1000 = 37 % of the
    average: warned, with the largest momentum that leaves them at most 5 % (0.997); 0.99 is quiet."""
    from edgesuite.common.training import ema_warning

    cfg = dataclasses.replace(Config(), ema=0.999, epochs=8)
    message = ema_warning(cfg, steps_per_epoch=125)
    assert "--ema 0.999 is slow for 1000 updates" in message and "37%" in message and "at most 0.997" in message
    assert 0.997**1000 <= 0.05 < 0.998**1000
    assert ema_warning(dataclasses.replace(cfg, ema=0.99), 125) is None
    assert ema_warning(dataclasses.replace(cfg, ema=0.0), 125) is None
    assert "for 250 updates" in ema_warning(dataclasses.replace(cfg, grad_accum_steps=4), 125)


@pytest.mark.parametrize("augment", ["mixup=0.2", "cutmix"])
def test_label_mixing_trains_under_mixed_bfloat16_and_the_callers_policy_comes_back(tiny_folder, tmp_path, augment):
    """The run sets its policy and restores the caller's (a notebook's own models are not left bf16), and
    the augmentation layers compute in float32 under it (MixUp and CutMix failed on bf16 inputs)."""
    import json

    import keras

    import edgesuite

    before = keras.mixed_precision.global_policy().name
    run = edgesuite.train(
        "image-classification",
        data=str(tiny_folder),
        epochs=1,
        batch_size=16,
        augment=augment,
        precision="mixed_bfloat16",
        out=str(tmp_path),
        early_stopping=0,
    )
    assert keras.mixed_precision.global_policy().name == before
    assert json.loads((run.path / "info.json").read_text())["precision"] == "mixed_bfloat16"
    assert run.dir.status()["state"] == "completed" and 0 <= run.metrics["accuracy"] <= 1


# the embedded demos' training sets: their recipes must stay as they are
EMBEDDED_TRAIN_SIZE = {
    "image-classification": 9000,
    "segmentation": 3000,
    "object-detection": 16000,
    "text-classification": 11115,
    "translation": 27000,
}


@pytest.mark.parametrize("name", sorted(EMBEDDED_TRAIN_SIZE))
def test_a_small_set_gets_enough_steps_and_the_embedded_demo_keeps_its_recipe(name):
    """40 examples (a few dozen tiles, a small folder of images) with no flag but --data: a batch that gives an
    epoch several steps and as many epochs as the app's least number of optimizer steps, patience and
    warm-up stretched alike; the embedded data set's recipe unchanged; --epochs / --batch-size as given."""
    import tensorflow as tf

    from edgesuite.apps import get_config_class
    from edgesuite.common.config import from_dict
    from edgesuite.common.training import BUDGET_EPOCHS, fit_to_data

    cls = get_config_class(name)
    recipe = from_dict(cls, {})
    if recipe.min_steps < 0:  # from the data (translation: by regime); the driver sees the number the app chose
        from edgesuite.apps import get_task

        recipe = dataclasses.replace(recipe, min_steps=get_task(name).MIN_STEPS)
    ds = tf.data.Dataset.range(40).batch(recipe.batch_size)
    cfg, train = fit_to_data(recipe, ds, 40, log=lambda _: None)
    steps = -(-40 // cfg.batch_size)
    assert 8 <= cfg.batch_size <= 10 and steps >= recipe.min_epoch_steps
    assert [len(b) for b in train.as_numpy_iterator()] == [cfg.batch_size] * (40 // cfg.batch_size) + [
        40 % cfg.batch_size
    ] * (40 % cfg.batch_size > 0)
    assert recipe.min_steps <= steps * cfg.epochs < recipe.min_steps + steps
    assert 3 <= cfg.early_stopping < cfg.epochs and cfg.early_stopping >= min(recipe.early_stopping, cfg.epochs // 5)
    assert cfg.warmup_epochs == pytest.approx(recipe.warmup_epochs * cfg.epochs / recipe.epochs, abs=1e-3)
    assert fit_to_data(cfg, train, 40, log=lambda _: None)[0] == cfg  # a resumed run keeps its plan

    embedded, _ = fit_to_data(recipe, ds, EMBEDDED_TRAIN_SIZE[name], log=lambda _: None)
    # the embedded set keeps its recipe; under a time budget (the detector's 20 min) up to BUDGET_EPOCHS epochs
    assert embedded == dataclasses.replace(recipe, epochs=BUDGET_EPOCHS if recipe.time_budget else recipe.epochs)
    budgeted = dataclasses.replace(recipe, time_budget=15.0)
    assert fit_to_data(budgeted, ds, EMBEDDED_TRAIN_SIZE[name], log=lambda _: None)[0].epochs == BUDGET_EPOCHS
    given = from_dict(cls, {"epochs": 2, "batch_size": 32})
    assert fit_to_data(given, ds, 40, log=lambda _: None)[0] == given
    given = from_dict(cls, {"epochs": 2, "time_budget": 15.0})  # --epochs given: the budget does not add any
    assert fit_to_data(given, ds, EMBEDDED_TRAIN_SIZE[name], log=lambda _: None)[0].epochs == 2


def test_the_train_step_is_traced_once_when_its_state_is_built_before_fit(monkeypatch):
    """Keras 3 on TensorFlow creates the optimizer's slots and a metric's state (F1) inside the first trace of the
    train step, which TensorFlow then traces again; built before ``fit``, one trace, and the same training."""
    import keras
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as ktrainer

    from edgesuite.common.training import build_training_state

    traces = []
    step = ktrainer.TensorFlowTrainer.train_step
    monkeypatch.setattr(
        ktrainer.TensorFlowTrainer, "train_step", lambda self, data: traces.append(1) or step(self, data)
    )
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4), dtype=np.float32), np.eye(3, dtype=np.float32)[np.arange(16) % 3]

    def fit(built_before: bool):
        traces.clear()
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=[keras.metrics.F1Score("macro")])
        data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        if built_before:
            build_training_state(model, None, data)
        model.fit(data, epochs=2, verbose=0)
        return len(traces), model.get_weights()

    keras_traces, keras_weights = fit(False)
    built_traces, built_weights = fit(True)
    assert built_traces == 1 and keras_traces >= built_traces, (built_traces, keras_traces)
    for a, b in zip(built_weights, keras_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
