"""The Python face of the CLI: train, open a run, evaluate, predict."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgesuite.common.config import from_dict, load_yaml
from edgesuite.common.log import forwarded_to
from edgesuite.common.runs import RunDir, keras_archive_problem, resolve_run


def voice(log):
    """Where a call's messages go: ``log(text)`` for each when given, else the ``edgesuite`` logger's handlers."""
    import contextlib

    return forwarded_to(log) if log is not None else contextlib.nullcontext()


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's C++ start-up chatter off the user's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def resolve_config(task_name: str, knobs: dict, config: str | None = None, resume: str | None = None):
    """Defaults < config file (or the resumed run's config.yaml) < knobs; validated."""
    from edgesuite.apps import get_config_class

    cls = get_config_class(task_name)
    if resume:
        return _resumed_config(cls, task_name, knobs, config, resume)
    cfg = load_yaml(cls, config, knobs) if config else from_dict(cls, knobs, where="arguments")
    cfg.validate()
    return cfg


def _resumed_config(cls, task_name: str, knobs: dict, config: str | None, resume: str):
    """The run's config.yaml with the knobs a resume may change (``config.RESUMABLE``: --epochs,
    --time-budget, --precision, ...); a knob that would change the model or the recipe is refused, listed, as
    is ``--config`` (the run's config.yaml is its config). The driver records what changed in config.yaml."""
    import dataclasses

    from edgesuite.common.config import FITTED_BY, RESUMABLE
    from edgesuite.common.errors import UserInputError

    run = resolve_run(resume)
    if run_task_name(run) != task_name:
        raise UserInputError(f"{run.path}: is a {run.task} run, not {task_name}")
    resumable = [k for k in RESUMABLE if k in {f.name for f in dataclasses.fields(cls)}]
    if config:
        raise UserInputError(
            f"--config: not taken with --resume, whose config is {run.config_path}; a resume may "
            f"change only {_flags(resumable)}"
        )
    saved = load_yaml(cls, run.config_path)
    cfg = load_yaml(cls, run.config_path, knobs)

    def same(k):
        a, b = getattr(saved, k), getattr(cfg, k)
        return a == b or (k == "out" and os.path.abspath(a) == os.path.abspath(b))

    refused = [k for k in knobs if k not in RESUMABLE and not same(k)]
    if refused:
        had = ", ".join(f"{k} {getattr(saved, k)!r}" for k in refused)
        raise UserInputError(
            f"{_flags(refused)}: a resumed run keeps the model and recipe it was trained with "
            f"({run.config_path.name}: {had}); start a new run to change them, or resume with "
            f"only {_flags(resumable)}"
        )
    # an --epochs given on purpose is kept, not stretched again to the data's minimum steps (config.FITTED_BY)
    cfg = dataclasses.replace(cfg, **{rule: 0 for k, rule in FITTED_BY.items() if k in knobs and not same(k)})
    cfg.validate()
    return cfg


def _flags(knobs) -> str:
    return ", ".join("--" + k.replace("_", "-") for k in knobs)


def run_task_name(run: RunDir) -> str:
    """The task a run's ``config.yaml`` names, which must be one this edgesuite knows."""
    from edgesuite.apps import TASKS
    from edgesuite.common.errors import UserInputError
    from edgesuite.common.runs import CONFIG_REMEDY

    name = run.task
    if name not in TASKS:
        raise UserInputError(
            f"{run.config_path}: names task {name!r}, which this edgesuite does not know "
            f"(known: {', '.join(TASKS)}); {CONFIG_REMEDY}"
        )
    return name


def train(task: str, resume: str | None = None, config: str | None = None, log=None, **knobs) -> Run:
    """``log``: a callable that receives every message of the run instead of the console (None: the
    ``edgesuite`` logger's handlers, the console by default)."""
    quiet_tensorflow()
    from edgesuite.apps import get_task
    from edgesuite.common import training

    cfg = resolve_config(task, knobs, config, resume)
    t = get_task(task)
    with voice(log):
        run = training.train(t, cfg, resume=resolve_run(resume).path if resume else None)
    return Run(run.path)


def tune(
    task: str,
    trials: int = 20,
    space=None,
    storage: str | None = None,
    study: str = "study",
    config: str | None = None,
    log=None,
    **knobs,
):
    """``edgesuite tune``: see :func:`edgesuite.common.tune.tune`."""
    quiet_tensorflow()
    from edgesuite.apps import get_task
    from edgesuite.common import tune as ctune

    base = resolve_config(task, knobs, config)
    with voice(log):
        return ctune.tune(get_task(task), base, trials, space=space, storage=storage, study_name=study)


def prepare(task: str, config: str | None = None, **knobs):
    """``(task object, validated config)`` for a script that walks through the steps itself:
    ``data = task.load_data(cfg)``, ``task.build_model(cfg, data.info)``, then :func:`fit`."""
    quiet_tensorflow()
    from edgesuite.apps import get_task

    return get_task(task), resolve_config(task, knobs, config)


def fit(task, cfg, data=None, log=None) -> Run:
    """Trains with the shared driver on ``data`` already loaded by ``task.load_data(cfg)`` (None: it
    loads them) and returns the finished :class:`Run`."""
    from edgesuite.common import training

    with voice(log):
        return Run(training.train(task, cfg, data=data).path)


def script_arguments(task: str, doc: str, recipe: tuple[str, ...], argv=None) -> tuple[dict, str]:
    """The flags of a per-app ``train.py``: every knob of the task's config, as on the CLI, and ``--formats`` to
    export after training. ``recipe``: the knobs the script keeps in view; their values are the Config's
    defaults (a number lives once) with the flags given, and are said as the script starts.
    Returns (the flags given, formats)."""
    import argparse
    import dataclasses

    from edgesuite.apps import get_config_class
    from edgesuite.common.config import add_arguments
    from edgesuite.common.log import say

    config = get_config_class(task)
    defaults = {f.name: f.default for f in dataclasses.fields(config)}
    unknown = [k for k in recipe if k not in defaults]
    if unknown:  # a script naming a knob its Config lost: the script's bug, said before anything runs
        raise ValueError(f"train.py of {task}: RECIPE names {', '.join(unknown)}, not knobs of {config.__name__}")
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default="all", help="formats to export after training (comma-separated)")
    add_arguments(parser, config)
    given = vars(parser.parse_args(argv))
    formats = given.pop("formats")
    shown = {k: given.get(k, defaults[k]) for k in recipe}
    say(
        "recipe: "
        + ", ".join(f"{k.replace('_', '-')} {v}" + (" (flag)" if k in given else "") for k, v in shown.items())
    )
    return given, formats


@dataclass
class Run:
    """A finished run directory with its task, config and model."""

    path: Path

    @classmethod
    def open(cls, path: str | os.PathLike) -> Run:
        run = resolve_run(path)
        run_task_name(run)  # a damaged config.yaml is named now, not as a traceback later
        return cls(run.path)

    @property
    def dir(self) -> RunDir:
        return RunDir(self.path)

    @property
    def task(self):
        from edgesuite.apps import get_task

        return get_task(self.dir.task)

    @property
    def config(self):
        return resolve_config(self.dir.task, {}, str(self.dir.config_path))

    @property
    def info(self) -> dict:
        """``info.json``, checked as the task's serving reads it: a damaged file is named, not a KeyError later."""
        from edgesuite.common.errors import UserInputError
        from edgesuite.common.runs import INFO_REMEDY

        info, name, path = self.dir.read_info(), self.dir.task, self.dir.info_path
        if info.get("task", name) != name:
            raise UserInputError(f"{path}: records a {info['task']} run, config.yaml a {name} run; {INFO_REMEDY}")
        try:
            self.task.serving.metadata(info)
        except KeyError as exc:
            raise UserInputError(f"{path}: has no {exc.args[0]!r}, which a {name} run records; {INFO_REMEDY}") from None
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise UserInputError(f"{path}: a value of the wrong kind ({exc}); {INFO_REMEDY}") from None
        return info

    @property
    def metrics(self) -> dict:
        from edgesuite.common.runs import read_json_dict

        return read_json_dict(self.dir.metrics_path, f"edgesuite evaluate {self.path} writes it again")

    def load_model(self):
        quiet_tensorflow()
        import keras

        from edgesuite.common.errors import UserInputError

        if not self.dir.model_path.exists():
            raise UserInputError(f"{self.path}: the run has no model.keras (status: {self.dir.describe_status()})")
        _ = self.task  # imports the app, which registers its custom loss (the compiled model names it)
        path = self.dir.model_path
        problem = keras_archive_problem(path)
        try:
            if not problem:
                return keras.models.load_model(path)
        except Exception as exc:  # a whole zip with damaged insides
            problem = (
                f"cannot be loaded ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
            )
        raise UserInputError(f"{path}: {problem}; {self._model_remedy()}")

    def _model_remedy(self) -> str:
        """A lost model.keras comes back from the last checkpoint, when the run still has one."""
        from edgesuite.common.errors import UserInputError
        from edgesuite.common.training import check_checkpoint, load_state

        try:
            state = load_state(self.dir)
            check_checkpoint(self.dir, state)
            if state["checkpoint"]:
                return (
                    f"`edgesuite train {self.dir.task} --resume {self.path}` writes it again from the run's "
                    f"last checkpoint (epoch {state['epoch']})"
                )
        except UserInputError:
            pass
        return "restore it from a copy, or train the run again"

    def evaluate(self, data: str | None = None, **options) -> dict:
        """Metrics on the run's held-out split, or on ``data`` (labels mapped to the run's classes).

        ``options`` override what the run's info says about evaluation (translation: ``beam_size``).
        """
        import time

        from edgesuite.common.errors import UserInputError
        from edgesuite.common.runs import is_writable

        if not is_writable(self.path):  # found before the model loads and the data is read, not after
            raise UserInputError(
                f"{self.path}: the run folder is read-only; evaluate writes its metrics there "
                "(copy the run to a writable folder and evaluate the copy)"
            )
        task, cfg, info = self.task, self.config, {**self.info, **options}
        model = self.load_model()
        metrics = task.evaluate(model, task.load_eval_data(cfg, info, data), info)
        metrics["split"] = "test" if data is None else str(data)
        if data is None:
            self.dir.write_metrics(metrics)
        else:
            self.dir.write_metrics(metrics, self.path / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.json")
        return metrics

    def export(
        self,
        formats: str | list[str] = "all",
        out: str | None = None,
        calibration_samples: int = 200,
        eval_samples: int = 500,
        log=None,
    ) -> dict:
        """Writes and verifies the export formats; the report dict (``ok`` says all passed). ``log``: as for
        :func:`train`."""
        from edgesuite import __version__
        from edgesuite.export.exporter import export_run

        quiet_tensorflow()
        with voice(log):
            report, ok = export_run(
                self, formats, out, calibration_samples, eval_samples, provenance={"edgesuite_version": __version__}
            )
        return {**report, "ok": ok}

    def predictor(self):
        """The run's model behind the same :class:`~edgesuite.predictor.Predictor` as an exported file, with
        the metadata an export would write (``edgesuite.load`` and ``Run.predict`` decode alike)."""
        from edgesuite.export.runtime import ModelRuntime
        from edgesuite.predictor import Predictor

        metadata = self.task.serving.metadata(self.info)  # a damaged info.json is named before the model loads
        return Predictor(ModelRuntime(self.load_model()), metadata, str(self.path))

    def predict(self, inputs, save_dir: str | None = None, **options) -> list[dict]:
        """Decoded results per input; ``save_dir`` (tasks with per-input files: masks, drawn boxes) writes them;
        ``options``: the task's decoding options (translation: ``beam_size``)."""
        return self.predictor().predict(inputs, save_dir=save_dir, **options)
