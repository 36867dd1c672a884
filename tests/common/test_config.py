import argparse
import dataclasses

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


@pytest.mark.parametrize("key,value,expected", [
    ("epochs", -1, "epochs: expected an integer >= 1, got -1"),
    ("lr", 0.0, "lr: expected a number > 0"),
    ("optimizer", "lamb", "optimizer: expected one of sgd, adam, adamw, rmsprop, adagrad"),
    ("image_size", 4, "image_size: expected an integer >= 8"),
])
def test_validate_names_the_knob(key, value, expected):
    with pytest.raises(UserInputError, match=expected):
        dataclasses.replace(Config(), **{key: value}).validate()


def test_every_field_has_help():
    assert all(f.metadata.get("help") for f in dataclasses.fields(Config))
