import argparse
import dataclasses
import re

import numpy as np
import pytest

from edgesuite.apps.image_classification.config import Config
from edgesuite.common.config import add_arguments, from_dict, load_yaml, resolve, save_yaml
from edgesuite.common.errors import UserInputError


def test_yaml_round_trip(tmp_path):
    cfg = Config(epochs=3, lr=0.01, augment="flip,zoom=0.2", strict=True)
    save_yaml(cfg, tmp_path / "c.yaml", task="image-classification")
    assert load_yaml(Config, tmp_path / "c.yaml") == cfg


def test_flags_override_file_and_file_overrides_defaults(tmp_path):
    (tmp_path / "c.yaml").write_text("epochs: 7\nlr: 0.5\nbatch_size: 8\n")
    parser = argparse.ArgumentParser()
    add_arguments(parser, Config)
    args = parser.parse_args(["--lr", "0.25", "--no-strict"])
    cfg = resolve(Config, args, str(tmp_path / "c.yaml"))
    assert (cfg.epochs, cfg.lr, cfg.batch_size, cfg.strict) == (7, 0.25, 8, False)
    assert cfg.image_size == Config().image_size


def test_unknown_key_is_named_with_a_suggestion(tmp_path):
    (tmp_path / "c.yaml").write_text("epoch: 3\n")
    with pytest.raises(UserInputError, match=r"c\.yaml: unknown key 'epoch' \(did you mean 'epochs'\?\)"):
        load_yaml(Config, tmp_path / "c.yaml")


def test_wrong_type_and_bad_yaml_are_named(tmp_path):
    with pytest.raises(UserInputError, match="key 'epochs' expects int"):
        from_dict(Config, {"epochs": "many"})
    (tmp_path / "bad.yaml").write_text("epochs: [1,\n")
    with pytest.raises(UserInputError, match=r"bad\.yaml: line \d+ is not valid YAML"):
        load_yaml(Config, tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    "key,value,expected",
    [
        ("epochs", -1, "epochs: expected an integer >= 1, got -1"),
        ("lr", 0.0, "lr: expected a number > 0"),
        ("optimizer", "lamb", "optimizer: expected one of sgd, adam, adamw, rmsprop, adagrad"),
        ("image_size", 4, "image_size: expected 0 (from the data) or at least 8, got 4"),
    ],
)
def test_validate_names_the_knob(key, value, expected):
    with pytest.raises(UserInputError, match=re.escape(expected)):
        dataclasses.replace(Config(), **{key: value}).validate()


def test_the_split_seed_is_the_seed_unless_given_and_splits_follow_it_alone():
    from edgesuite.apps.image_classification import data as icdata

    assert Config(seed=5).data_seed == 5 and Config(seed=5, split_seed=0).data_seed == 0
    with pytest.raises(UserInputError, match="split_seed: expected an integer >= -1"):
        Config(split_seed=-2).validate()
    a, b, c = (
        icdata.load_splits(Config(data="fashion-mnist-subset", seed=s, split_seed=k))
        for s, k in ((1, 42), (2, 42), (42, -1))
    )
    assert np.array_equal(a.val.arrays, b.val.arrays) and np.array_equal(a.val.arrays, c.val.arrays)
    assert np.array_equal(a.train.arrays, b.train.arrays) and np.array_equal(a.train.arrays, c.train.arrays)
    other = icdata.load_splits(Config(data="fashion-mnist-subset", seed=1))
    assert not np.array_equal(other.val.arrays, a.val.arrays)


def test_every_field_has_help():
    assert all(f.metadata.get("help") for f in dataclasses.fields(Config))


def test_bounds_are_declared_once_and_hold_where_a_task_sets_its_own_default():
    """image classification redeclares epochs and lr with its own defaults; the driver's bounds still hold."""
    from edgesuite.common.config import TrainConfig, _declared

    assert _declared(Config)["epochs"][1] == ">= 1" and _declared(TrainConfig)["lr"][1] == "> 0"
    with pytest.raises(UserInputError, match=r"^epochs: expected an integer >= 1, got 0$"):
        Config(epochs=0).validate()
    with pytest.raises(UserInputError, match=r"^dropout: expected a number in \[0, 1\), got 1.0$"):
        Config(dropout=1.0).validate()


def test_a_malformed_bound_fails_where_it_is_declared():
    from edgesuite.common.config import knob

    with pytest.raises(ValueError, match="knob bounds 'between 1 and 2'"):
        knob(1, "a knob", bounds="between 1 and 2")


@pytest.mark.parametrize(
    "app, absent",
    [
        ("translation", {"augment", "class_weight"}),
        ("text-classification", {"augment"}),
        ("segmentation", {"class_weight", "label_smoothing"}),
        ("object-detection", {"class_weight", "label_smoothing"}),
    ],
)
def test_a_task_has_no_knob_it_would_refuse(app, absent, tmp_path):
    """... and the config.yaml of a run from before, which held them switched off, still loads."""
    from edgesuite.apps import get_config_class

    cls = get_config_class(app)
    assert not absent & {f.name for f in dataclasses.fields(cls)}
    old = {"augment": "none", "class_weight": "none", "label_smoothing": 0.0}
    (tmp_path / "old.yaml").write_text("".join(f"{k}: {v}\n" for k, v in old.items() if k in absent))
    assert load_yaml(cls, tmp_path / "old.yaml") == cls()
    (tmp_path / "on.yaml").write_text(f"{sorted(absent)[0]}: balanced\n")
    with pytest.raises(UserInputError, match=f"unknown key '{sorted(absent)[0]}'"):
        load_yaml(cls, tmp_path / "on.yaml")
