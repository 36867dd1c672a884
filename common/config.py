"""Task configs: one dataclass per task, YAML in and out, CLI flags on top.

Precedence is defaults < ``--config FILE.yaml`` < flags given on the command
line. The resolved config is written as ``config.yaml`` in the run directory;
``--config`` of that file reproduces the run.

Every field is declared with :func:`knob`, which carries the help text and the
allowed choices, so the CLI, the YAML check and ``--help`` come from one place.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from edgesuite.common.errors import UserInputError


def knob(default: Any, help: str, choices: tuple | None = None) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "exponential", "cosine", "warmup_cosine", "plateau")
STRATEGIES = ("auto", "default", "mirrored", "multi-worker", "tpu")  # see common/distribute.py


@dataclasses.dataclass
class TrainConfig:
    """Knobs of the shared training driver; every task config extends it."""

    data: str = knob("", "data set: a path or a named set")
    epochs: int = knob(10, "number of training epochs")
    batch_size: int = knob(64, "global batch size")
    precision: str = knob("auto", "mixed-precision policy; auto picks by hardware", PRECISIONS)
    strategy: str = knob("auto", "tf.distribute strategy: auto (mirrored over 2+ GPUs, else default), default, "
                         "mirrored, multi-worker (cluster from TF_CONFIG), tpu", STRATEGIES)
    devices: int = knob(0, "mirrored: use N devices (N logical CPU devices when there is no GPU); 0 = all GPUs")
    tpu: str = knob("", "tpu: the TPU name or address for TPUClusterResolver (empty: from the environment)")
    restarts: int = knob(3, "multi-worker: times a worker restarts itself after losing a peer, to resume with the "
                            "cluster once the peer is back (needs --name)")
    shuffle: bool = knob(True, "reshuffle the training set every epoch (seeded)")
    optimizer: str = knob("adamw", "optimizer", OPTIMIZERS)
    lr: float = knob(1e-3, "peak learning rate")
    schedule: str = knob("warmup_cosine", "learning-rate schedule", SCHEDULES)
    warmup_epochs: float = knob(1.0, "linear warm-up length in epochs (warmup_cosine)")
    decay_rate: float = knob(0.9, "per-epoch factor of the exponential schedule")
    momentum: float = knob(0.9, "momentum of sgd and rmsprop")
    weight_decay: float = knob(1e-4, "decoupled weight decay of the optimizer (0 = off)")
    ema: float = knob(0.0, "keep an exponential moving average of the weights with this momentum (0.99: about the "
                           "last 100 steps) and validate, keep and export the averaged weights (0 = off)")
    l1: float = knob(0.0, "L1 penalty on kernels (0 = off)")
    l2: float = knob(0.0, "L2 penalty on kernels (0 = off)")
    label_smoothing: float = knob(0.0, "label smoothing of the cross-entropy")
    clipnorm: float = knob(0.0, "clip gradients to this global norm (0 = off)")
    grad_accum_steps: int = knob(1, "accumulate gradients over N batches before each update")
    class_weight: str = knob("none", "weight classes by inverse frequency", ("none", "balanced"))
    early_stopping: int = knob(0, "stop after N epochs without improvement of the monitored metric (0 = off)")
    time_budget: float = knob(0.0, "train for at most this many minutes (0 = off): after the first epoch, no epoch "
                                   "starts that would not end within them, and a cosine schedule decays over the "
                                   "epochs that fit (--epochs is then the most there may be)")
    augment: str = knob("default", "augmentations, e.g. 'flip,translate=0.1,contrast=0.2,mixup=0.2' ('none' = off)")
    seed: int = knob(42, "random seed for splits, shuffling, augmentation and weights")
    strict: bool = knob(False, "fail on a corrupt or skippable input instead of skipping it with a warning")
    out: str = knob("saved_models", "output root; runs go to OUT/<task>/<name>")
    name: str = knob("", "run name (default: a timestamp)")

    def validate(self) -> None:
        """Raises UserInputError naming the first knob that is out of range."""
        checks = [
            ("epochs", self.epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("lr", self.lr > 0, "a number > 0"),
            ("warmup_epochs", self.warmup_epochs >= 0, "a number >= 0"),
            ("decay_rate", 0 < self.decay_rate <= 1, "a number in (0, 1]"),
            ("weight_decay", self.weight_decay >= 0, "a number >= 0"),
            ("ema", 0 <= self.ema < 1, "a momentum in [0, 1)"),
            ("l1", self.l1 >= 0, "a number >= 0"),
            ("l2", self.l2 >= 0, "a number >= 0"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "a number in [0, 1)"),
            ("clipnorm", self.clipnorm >= 0, "a number >= 0"),
            ("grad_accum_steps", self.grad_accum_steps >= 1, "an integer >= 1"),
            ("early_stopping", self.early_stopping >= 0, "an integer >= 0"),
            ("time_budget", self.time_budget >= 0, "minutes >= 0"),
            ("devices", self.devices >= 0, "an integer >= 0"),
            ("restarts", self.restarts >= 0, "an integer >= 0"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise UserInputError(f"{key}: expected {expected}, got {getattr(self, key)!r}")
        for f in dataclasses.fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise UserInputError(f"{f.name}: expected one of {', '.join(choices)}, got {getattr(self, f.name)!r}")


def _field_types(cls) -> dict[str, type]:
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _coerce(key: str, value: Any, typ: type, where: str) -> Any:
    """Checks a YAML value against the field's type (ints are fine for floats)."""
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, (str, int, float)) and not isinstance(value, bool),
    }.get(typ, True)
    if not ok:
        raise UserInputError(f"{where}: key '{key}' expects {typ.__name__}, got {value!r}")
    return typ(value) if typ in (float, str) else value


def from_dict(cls, values: dict, where: str = "config"):
    """Builds ``cls`` from a dict; an unknown key is an error that names it."""
    types = _field_types(cls)
    unknown = [k for k in values if k not in types]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(types), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserInputError(
            f"{where}: unknown key '{key}'{hint}; valid keys are: {', '.join(types)}")
    return cls(**{k: _coerce(k, v, types[k], where) for k, v in values.items()})


def load_yaml(cls, path: str | os.PathLike, overrides: dict | None = None):
    """Reads a YAML config for ``cls``; ``overrides`` (CLI flags) win over the file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserInputError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise UserInputError(f"{path}:{line} is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(values, dict):
        raise UserInputError(f"{path}: expected a mapping of key: value, got {type(values).__name__}")
    values.pop("task", None)  # written by save_yaml for people; the CLI names the task
    values.update(overrides or {})
    return from_dict(cls, values, where=str(path))


def save_yaml(cfg, path: str | os.PathLike, task: str | None = None) -> None:
    """Writes the resolved config atomically (temporary file, then rename)."""
    path = Path(path)
    values = dataclasses.asdict(cfg)
    if task:
        values = {"task": task, **values}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
    os.replace(tmp, path)


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field, ``--batch-size`` for ``batch_size``; defaults shown in --help.

    Flags default to ``argparse.SUPPRESS`` so that :func:`resolve` can tell a
    flag the user typed from a default, and a config file is not overridden by
    defaults.
    """
    types = _field_types(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if types[f.name] is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = types[f.name]
            kwargs["metavar"] = f.name.upper() if not f.metadata.get("choices") else None
            if f.metadata.get("choices"):
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag, **kwargs)


def resolve(cls, args: argparse.Namespace, config_file: str | None = None):
    """Defaults, then the config file, then the flags the user gave; validated."""
    names = {f.name for f in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in names}
    cfg = load_yaml(cls, config_file, given) if config_file else from_dict(cls, given, where="flags")
    cfg.validate()
    return cfg
