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

from edgesuite.common.errors import UserInputError


def knob(
    default: Any,
    help: str,
    choices: tuple | None = None,
    bounds: str | None = None,
    many: bool = False,
    search: Any = None,
) -> Any:
    """A config field: its default, the help the CLI shows, and what values it takes: ``choices``, or
    ``bounds`` as an interval (``"[0, 1)"``, ``"(0, 1]"``) or a one-sided bound (``">= 1"``, ``"> 0"``),
    which :meth:`TrainConfig.validate` checks for every knob of every task. ``many``: a comma-separated list
    that the CLI takes as several values (``--teacher A B``). ``search``: how ``edgesuite tune`` may search it
    (see ``common/tune.py``: ``"log"``, ``"pow2"``, ``"uniform:a,b"``, ``"choices"`` or a tuple of values);
    None: it is not searched."""
    if bounds is not None:
        _parse_bounds(bounds)  # a malformed bound fails where it is declared
    return dataclasses.field(
        default=default, metadata={"help": help, "choices": choices, "bounds": bounds, "many": many, "search": search}
    )


def _parse_bounds(text: str) -> tuple[float, bool, float, bool]:
    """``"[0, 1)"`` -> (0, True, 1, False): lower, lower included, upper, upper included."""
    t = text.replace(" ", "")
    inf = float("inf")
    for op, lo_in in ((">=", True), (">", False)):
        if t.startswith(op):
            return float(t[len(op) :]), lo_in, inf, False
    for op, hi_in in (("<=", True), ("<", False)):
        if t.startswith(op):
            return -inf, False, float(t[len(op) :]), hi_in
    if len(t) >= 5 and t[0] in "[(" and t[-1] in "])" and "," in t:
        lo, hi = t[1:-1].split(",")
        return float(lo), t[0] == "[", float(hi), t[-1] == "]"
    raise ValueError(f"knob bounds {text!r}: expected '[a, b)', '(a, b]', '>= a', '> a', '<= b' or '< b'")


def _within(value, bounds: str) -> bool:
    lo, lo_in, hi, hi_in = _parse_bounds(bounds)
    return (value >= lo if lo_in else value > lo) and (value <= hi if hi_in else value < hi)


def check_encoding(name: str) -> None:
    """An unknown ``--encoding`` is named before any file is read."""
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        raise UserInputError(f"encoding: unknown text encoding {name!r} (e.g. utf-8, latin-1)") from None


PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("constant", "step", "exponential", "inverse_time", "cosine", "warmup_cosine", "plateau")
STRATEGIES = ("auto", "default", "mirrored", "multi-worker", "tpu")  # see common/distribute.py


@dataclasses.dataclass
class TrainConfig:
    """Knobs of the shared training driver; every task config extends it."""

    named_sets = ()  # --data values that name an embedded set, not a path (each app's config gives its own)
    # the app's own knobs by group (see GROUPS); an app knob named in none of them is a "model" knob
    knob_groups = {}  # a class attribute, not a knob
    data: str = knob("", "data set: a path or a named set")
    epochs: int = knob(10, "number of training epochs", bounds=">= 1")
    batch_size: int = knob(64, "global batch size", bounds=">= 1", search="pow2")
    precision: str = knob("auto", "mixed-precision policy; auto picks by hardware", PRECISIONS)
    strategy: str = knob(
        "auto",
        "tf.distribute strategy: auto (mirrored over 2+ GPUs, else default), default, "
        "mirrored, multi-worker (cluster from TF_CONFIG), tpu",
        STRATEGIES,
    )
    devices: int = knob(
        0, "mirrored: use N devices (N logical CPU devices when there is no GPU); 0 = all GPUs", bounds=">= 0"
    )
    tpu: str = knob("", "tpu: the TPU name or address for TPUClusterResolver (empty: from the environment)")
    restarts: int = knob(
        3,
        "multi-worker: times a worker restarts itself after losing a peer, to resume with the "
        "cluster once the peer is back (needs --name)",
        bounds=">= 0",
    )
    shuffle: bool = knob(True, "reshuffle the training set every epoch (seeded)")
    optimizer: str = knob("adamw", "optimizer", OPTIMIZERS, search="choices")
    lr: float = knob(1e-3, "peak learning rate", bounds="> 0", search="log")
    schedule: str = knob("warmup_cosine", "learning-rate schedule", SCHEDULES, search="choices")
    warmup_epochs: float = knob(
        1.0, "linear warm-up length in epochs (warmup_cosine)", bounds=">= 0", search="uniform:0,3"
    )
    decay_rate: float = knob(
        0.9,
        "exponential: the rate's factor per epoch; inverse_time: the rate is lr / (1 + decay_rate x epochs done)",
        bounds="(0, 1]",
    )
    step_at: str = knob(
        "0.5,0.75",
        "step schedule: shares of the training at which the rate is multiplied by "
        "--step-factor (of the planned epochs under --time-budget)",
    )
    step_factor: float = knob(0.1, "step schedule: the factor at each boundary", bounds="(0, 1]")
    momentum: float = knob(0.9, "momentum of sgd and rmsprop")
    weight_decay: float = knob(1e-4, "decoupled weight decay of the optimizer (0 = off)", bounds=">= 0", search="log")
    ema: float = knob(
        0.0,
        "keep an exponential moving average of the weights with this momentum (0.99: about the "
        "last 100 steps) and validate, keep and export the averaged weights (0 = off)",
        bounds="[0, 1)",
    )
    l1: float = knob(0.0, "L1 penalty on kernels (0 = off)", bounds=">= 0")
    l2: float = knob(0.0, "L2 penalty on kernels (0 = off)", bounds=">= 0")
    clipnorm: float = knob(0.0, "clip gradients to this global norm (0 = off)", bounds=">= 0")
    grad_accum_steps: int = knob(1, "accumulate gradients over N batches before each update", bounds=">= 1")
    early_stopping: int = knob(
        0, "stop after N epochs without improvement of the monitored metric (0 = off)", bounds=">= 0"
    )
    min_steps: int = knob(
        1000,
        "a small data set trains at least this many optimizer steps: more epochs, with "
        "early-stopping patience and warm-up stretched alike (off when --epochs is given; "
        "0 = the recipe's epochs as they are)",
        bounds=">= 0",
    )
    min_epoch_steps: int = knob(
        4,
        "a small data set gets a smaller batch (8 at the least) so that an epoch has "
        "this many steps (off when --batch-size is given; 0 = off)",
        bounds=">= 0",
    )
    time_budget: float = knob(
        0.0,
        "train for at most this many minutes (0 = off): after the first epoch, no epoch "
        "starts that would not end within them, and a cosine schedule decays over the "
        "epochs that fit: as many as the budget holds on a large set (up to 200), at most "
        "--epochs when it is given",
        bounds=">= 0",
    )
    val_fraction: float = knob(0.1, "validation share when the data has no validation split", bounds="[0, 1)")
    test_fraction: float = knob(0.1, "test share when the data has no test split", bounds="[0, 1)")
    seed: int = knob(
        42, "random seed for shuffling, augmentation and weights, and for the splits unless --split-seed is given"
    )
    split_seed: int = knob(
        -1,
        "seed of the train/validation/test split and of generated data alone (-1: --seed): "
        "runs that differ in --seed but share this are trained on the same splits, e.g. the "
        "teachers of one ensemble",
        bounds=">= -1",
    )
    strict: bool = knob(False, "fail on a corrupt or skippable input instead of skipping it with a warning")
    out: str = knob("saved_models", "output root; runs go to OUT/<task>/<name>")
    name: str = knob("", "run name (default: a timestamp)")

    @property
    def data_seed(self) -> int:
        """The seed of the splits and of generated data: ``--split-seed``, else ``--seed``."""
        return self.split_seed if self.split_seed >= 0 else self.seed

    def validate(self) -> None:
        """Raises UserInputError naming the first knob outside its choices or bounds; a task's own
        ``validate`` adds the checks that relate knobs to each other."""
        types, declared = _field_types(type(self)), _declared(type(self))
        for f in dataclasses.fields(self):
            value, choices, bounds = getattr(self, f.name), *declared.get(f.name, (None, None))
            if choices and value not in choices:
                raise UserInputError(f"{f.name}: expected one of {', '.join(map(str, choices))}, got {value!r}")
            if bounds and not _within(value, bounds):
                kind = "an integer" if types[f.name] is int else "a number"
                where = f"in {bounds}" if bounds[0] in "[(" else bounds
                raise UserInputError(f"{f.name}: expected {kind} {where}, got {value!r}")
        step_shares(self.step_at)
        if self.val_fraction + self.test_fraction >= 1:
            raise UserInputError(
                f"val_fraction, test_fraction: expected shares adding up to less than 1, got "
                f"{self.val_fraction} + {self.test_fraction}"
            )


def step_shares(text: str) -> list[float]:
    """``--step-at`` as ascending shares in (0, 1); UserInputError naming the knob otherwise."""
    try:
        shares = [float(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        shares = None
    if not shares or any(not 0 < v < 1 for v in shares) or shares != sorted(set(shares)):
        raise UserInputError(
            f"step_at: expected ascending shares of the training in (0, 1), e.g. '0.5,0.75', got {text!r}"
        )
    return shares


def _declared(cls) -> dict[str, tuple]:
    """Field name -> (choices, bounds), the most derived declaration that gives them: a task that sets its own
    default for a driver knob (``epochs``) keeps the driver's bounds without repeating them."""
    out: dict[str, tuple] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            for f in dataclasses.fields(klass):
                old = out.get(f.name, (None, None))
                out[f.name] = (f.metadata.get("choices") or old[0], f.metadata.get("bounds") or old[1])
    return out


DEFAULT_SPACE = ("lr", "weight_decay", "batch_size")  # what edgesuite tune searches when --space is not given


def searchable(cls) -> dict[str, object]:
    """Knob name -> its search declaration, the most derived one that gives it (a task that redefines a
    driver knob's default keeps the driver's declaration)."""
    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            for f in dataclasses.fields(klass):
                if f.metadata.get("search") is not None:
                    out[f.name] = f.metadata["search"]
    return out


@dataclasses.dataclass
class Augmented:
    """The knob of the apps whose inputs are augmented (the vision apps)."""

    augment: str = knob(
        "default",
        "augmentations, e.g. 'flip,translate=0.1,contrast=0.2,mixup=0.2' ('none' = off)",
        search=(
            "none",
            "default",
            "flip,translate=0.1",
            "translate=0.1,rotate=0.03",
            "flip,zoom=0.1,translate=0.1,color=0.2",
        ),
    )


@dataclasses.dataclass
class Streamed:
    """The knob of the apps that decode their images from files inside ``tf.data`` (segmentation, detection)."""

    cache_memory_mb: int = knob(
        512,
        "decoded, resized images (with masks) up to this many MB are cached in memory; "
        "a larger set is cached to a file under OUT/.cache",
        bounds=">= 0",
    )


@dataclasses.dataclass
class ClassWeighted:
    """The knob of the apps that classify whole inputs (per-pixel or per-box targets take no class weights)."""

    class_weight: str = knob("none", "weight classes by inverse frequency", ("none", "balanced"))


WEIGHTS_HELP = (
    "MobileNetV2 backbone weights: none, imagenet (downloads), a weights file, or a finished run folder "
    "whose model holds a MobileNetV2 of the same width (e.g. an image classifier trained on your images)"
)


@dataclasses.dataclass
class Pretrained:
    """The transfer-learning knobs of the apps with a MobileNetV2 backbone that can be frozen (classification,
    detection)."""

    weights: str = knob("none", WEIGHTS_HELP)
    freeze_backbone: bool = knob(False, "train only the head over a frozen backbone")
    fine_tune_after: int = knob(
        0, "with --freeze-backbone: unfreeze after N epochs at a tenth of the rate (0 = never)", bounds=">= 0"
    )


@dataclasses.dataclass
class Distilled:
    """The knobs of the apps that can learn from teacher runs' softened class probabilities (the classifiers)."""

    teacher: str = knob(
        "",
        "distil from these finished runs of the same task and splits: the student learns from "
        "the labels and the teachers' averaged softened probabilities (empty = off)",
        many=True,
    )
    distill_alpha: float = knob(
        0.5, "share of the distillation term in the loss (the labels' cross-entropy has the rest)", bounds="[0, 1]"
    )
    # 1, not Hinton's 2-4: on the embedded images every T > 1 tried left the student lower (RESULTS.md)
    temperature: float = knob(
        1.0,
        "softmax temperature of the teachers' and the student's probabilities in the distillation term",
        bounds="> 0",
    )


def teacher_runs(cfg) -> list[str]:
    """The teacher runs ``--teacher`` names; none for an app whose config has no distillation knobs."""
    if not isinstance(cfg, Distilled):
        return []
    return [p for p in str(cfg.teacher or "").split(",") if p.strip()]


@dataclasses.dataclass
class LabelSmoothed:
    """The knob of the apps whose loss is a cross-entropy over one-hot (or token) targets."""

    label_smoothing: float = knob(0.0, "label smoothing of the cross-entropy", bounds="[0, 1)", search="uniform:0,0.2")


# Knobs earlier versions gave every task and a task now lacks, with the value that meant "off": a
# config.yaml of an older run (--resume, --config) holding that value still loads.
RETIRED = {"augment": "none", "class_weight": "none", "label_smoothing": 0.0}


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
    if typ is str and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ",".join(value)  # a ``many`` knob given as a list (the CLI's nargs, the Python API, YAML)
    if not ok:
        raise UserInputError(f"{where}: key '{key}' expects {typ.__name__}, got {value!r}")
    return typ(value) if typ in (float, str) else value


# a knob given on purpose switches off the rule that would fit it to the data (common/training.fit_to_data)
FITTED_BY = {"epochs": "min_steps", "batch_size": "min_epoch_steps"}

# what ``--resume`` may change: how long it trains and on what hardware, and where the same data now lies (the
# driver refuses data that changed); every other knob shapes the model or the recipe the checkpoints were
# trained under, and a resume that changed it silently would leave config.yaml describing another run
RESUMABLE = (
    "epochs",
    "time_budget",
    "early_stopping",
    "precision",
    "strategy",
    "devices",
    "tpu",
    "restarts",
    "strict",
    "cache_memory_mb",
    "data",
    "source_file",
    "target_file",
)
PATH_KNOBS = ("data", "source_file", "target_file", "weights")
WEIGHT_KEYWORDS = ("none", "imagenet", "auto")


def with_absolute_paths(cfg):
    """``cfg`` with each path knob (``PATH_KNOBS``) that names an existing file or folder made absolute, so
    that the run's config.yaml is read alike from any working folder (``export``, ``evaluate``, ``--resume``,
    ``--config``); named sets and keywords stay as they are."""
    keep = set(type(cfg).named_sets) | set(WEIGHT_KEYWORDS)
    changes = {}
    for name in PATH_KNOBS:
        value = getattr(cfg, name, "")
        if value and value not in keep and not os.path.isabs(value) and os.path.exists(value):
            changes[name] = os.path.abspath(value)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def from_dict(cls, values: dict, where: str = "config"):
    """Builds ``cls`` from a dict; an unknown key is an error that names it. ``epochs`` or ``batch_size`` given
    without the rule that fits it to the data keeps its value (the rule is set to 0)."""
    values = {**values, **{rule: 0 for knob_, rule in FITTED_BY.items() if knob_ in values and rule not in values}}
    types = _field_types(cls)
    values = {k: v for k, v in values.items() if k in types or k not in RETIRED or v != RETIRED[k]}
    unknown = [k for k in values if k not in types]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(types), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise UserInputError(f"{where}: unknown key '{key}'{hint}; valid keys are: {', '.join(types)}")
    return cls(**{k: _coerce(k, v, types[k], where) for k, v in values.items()})


def load_yaml(cls, path: str | os.PathLike, overrides: dict | None = None):
    """Reads a YAML config for ``cls``; ``overrides`` (CLI flags) win over the file."""
    import yaml  # here, not at the top: `edgesuite predict` on a board has no PyYAML

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


def save_yaml(cfg, path: str | os.PathLike, task: str | None = None, comments: list[str] = ()) -> None:
    """Writes the resolved config atomically (temporary file, then rename); ``comments``: '#' lines on top
    (what a resume changed)."""
    import yaml

    path = Path(path)
    values = dataclasses.asdict(cfg)
    parts = [yaml.safe_dump({"task": task}, sort_keys=False)] if task else []
    for group, fields in grouped_fields(type(cfg)).items():
        parts.append(
            f"# {group}: {GROUPS[group]}\n" + yaml.safe_dump({f.name: values[f.name] for f in fields}, sort_keys=False)
        )
    tmp = path.with_name(path.name + ".tmp")
    head = "".join(c if c.endswith("\n") else c + "\n" for c in comments)
    tmp.write_text(head + "".join(parts), encoding="utf-8")
    os.replace(tmp, path)


# The knobs in five groups, in this order, in `--help` and in config.yaml (a flat mapping still: old files and
# every reader take it as before; the groups are comment lines). The shared knobs' groups are here; an app's
# Config names its own in ``knob_groups``.
GROUPS = {
    "run": "where and how the run goes: output, precision, devices, seed",
    "data": "what the examples are, how they are read, split, cached and augmented",
    "model": "the architecture and its starting weights",
    "optimisation": "how long and how it learns: epochs, batch, optimizer, schedule, regularisation",
    "export": "what the evaluation and the exported files do at inference",
}
SHARED_GROUPS = {
    "run": (
        "out",
        "name",
        "precision",
        "strategy",
        "devices",
        "tpu",
        "restarts",
        "seed",
        "time_budget",
        "cache_memory_mb",
    ),
    "data": ("data", "shuffle", "val_fraction", "test_fraction", "split_seed", "strict", "augment", "class_weight"),
    "model": ("weights", "freeze_backbone"),
    "optimisation": (
        "epochs",
        "batch_size",
        "optimizer",
        "lr",
        "schedule",
        "warmup_epochs",
        "decay_rate",
        "step_at",
        "step_factor",
        "momentum",
        "weight_decay",
        "ema",
        "l1",
        "l2",
        "clipnorm",
        "grad_accum_steps",
        "early_stopping",
        "min_steps",
        "min_epoch_steps",
        "fine_tune_after",
        "label_smoothing",
        "teacher",
        "distill_alpha",
        "temperature",
    ),
}


def knob_group(cls, name: str) -> str:
    """The group (a key of ``GROUPS``) of knob ``name`` of config class ``cls``."""
    for table in (getattr(cls, "knob_groups", {}), SHARED_GROUPS):
        for group, names in table.items():
            if name in names:
                return group
    return "model"


def grouped_fields(cls) -> dict[str, list]:
    """``cls``'s dataclass fields by group, in ``GROUPS`` order (fields in declaration order within a group)."""
    groups: dict[str, list] = {g: [] for g in GROUPS}
    for f in dataclasses.fields(cls):
        groups[knob_group(cls, f.name)].append(f)
    return {g: fs for g, fs in groups.items() if fs}


def add_arguments(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field, ``--batch-size`` for ``batch_size``; defaults shown in --help.

    Flags default to ``argparse.SUPPRESS`` so that :func:`resolve` can tell a
    flag the user typed from a default, and a config file is not overridden by
    defaults.
    """
    types = _field_types(cls)
    for group, fields in grouped_fields(cls).items():
        _add_group(parser.add_argument_group(f"{group} knobs", GROUPS[group]), fields, types)


def _add_group(parser, fields: list, types: dict) -> None:
    for f in fields:
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata.get('help', '')} (default: {f.default!r})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        if types[f.name] is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif f.metadata.get("many"):
            kwargs.update(nargs="+", metavar=f.name.upper())
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
