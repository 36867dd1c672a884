"""The Python face of the CLI: train, open a run, evaluate, predict."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edgesuite.common.config import from_dict, load_yaml
from edgesuite.common.runs import RunDir, resolve_run


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's C++ start-up chatter off the user's terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


def resolve_config(task_name: str, knobs: dict, config: str | None = None, resume: str | None = None):
    """Defaults < config file (or the resumed run's config.yaml) < knobs; validated."""
    from edgesuite.apps import get_config_class

    cls = get_config_class(task_name)
    if resume:
        run = resolve_run(resume)
        if run.task != task_name:
            from edgesuite.common.errors import UserInputError

            raise UserInputError(f"{run.path}: is a {run.task} run, not {task_name}")
        config = str(run.config_path)
    cfg = load_yaml(cls, config, knobs) if config else from_dict(cls, knobs, where="arguments")
    cfg.validate()
    return cfg


def train(task: str, resume: str | None = None, config: str | None = None, log=print, **knobs) -> "Run":
    quiet_tensorflow()
    from edgesuite.apps import get_task
    from edgesuite.common import training

    cfg = resolve_config(task, knobs, config, resume)
    t = get_task(task)
    run = training.train(t, cfg, resume=resolve_run(resume).path if resume else None, log=log)
    return Run(run.path)


def tune(task: str, trials: int = 20, space=None, storage: str | None = None, study: str = "study",
         config: str | None = None, log=print, **knobs):
    """``edgesuite tune``: see :func:`edgesuite.common.tune.tune`."""
    quiet_tensorflow()
    from edgesuite.apps import get_task
    from edgesuite.common import tune as ctune

    base = resolve_config(task, knobs, config)
    return ctune.tune(get_task(task), base, trials, space=space, storage=storage, study_name=study, log=log)


def prepare(task: str, config: str | None = None, **knobs):
    """``(task object, validated config)`` for a script that walks through the steps itself:
    ``data = task.load_data(cfg)``, ``task.build_model(cfg, data.info)``, then :func:`fit`."""
    quiet_tensorflow()
    from edgesuite.apps import get_task

    return get_task(task), resolve_config(task, knobs, config)


def fit(task, cfg, data=None, log=print) -> "Run":
    """Trains with the shared driver on ``data`` already loaded by ``task.load_data(cfg)`` (None: it
    loads them) and returns the finished :class:`Run`."""
    from edgesuite.common import training

    return Run(training.train(task, cfg, log=log, data=data).path)


def script_arguments(task: str, doc: str, recipe: dict, argv=None) -> tuple[dict, str]:
    """The flags of a per-app ``train.py``: every knob of the task's config, as on the CLI (a flag given
    wins over the script's ``recipe``), and ``--formats`` to export after training.
    Returns (knobs: the recipe with the flags given, formats)."""
    import argparse

    from edgesuite.apps import get_config_class
    from edgesuite.common.config import add_arguments

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--formats", default="all", help="formats to export after training (comma-separated)")
    add_arguments(parser, get_config_class(task))
    given = vars(parser.parse_args(argv))
    formats = given.pop("formats")
    return {**recipe, **given}, formats


@dataclass
class Run:
    """A finished run directory with its task, config and model."""

    path: Path

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Run":
        return cls(resolve_run(path).path)

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
        return self.dir.read_info()

    @property
    def metrics(self) -> dict:
        import json

        return json.loads(self.dir.metrics_path.read_text())

    def load_model(self):
        quiet_tensorflow()
        import keras

        from edgesuite.common.errors import UserInputError

        if not self.dir.model_path.exists():
            raise UserInputError(f"{self.path}: the run has no model.keras (status: "
                                 f"{self.dir.describe_status()})")
        self.task  # imports the app, which registers its custom loss (the compiled model names it)
        return keras.models.load_model(self.dir.model_path)

    def evaluate(self, data: str | None = None, **options) -> dict:
        """Metrics on the run's held-out split, or on ``data`` (labels mapped to the run's classes).

        ``options`` override what the run's info says about evaluation (translation: ``beam_size``).
        """
        import time

        task, cfg, info = self.task, self.config, {**self.info, **options}
        model = self.load_model()
        metrics = task.evaluate(model, task.load_eval_data(cfg, info, data), info)
        metrics["split"] = "test" if data is None else str(data)
        if data is None:
            self.dir.write_metrics(metrics)
        else:
            self.dir.write_metrics(metrics, self.path / f"eval-{time.strftime('%Y%m%d-%H%M%S')}.json")
        return metrics

    def export(self, formats: str | list[str] = "all", out: str | None = None, calibration_samples: int = 200,
               eval_samples: int = 500, log=print) -> dict:
        """Writes and verifies the export formats; the report dict (``ok`` says all passed)."""
        from edgesuite import __version__
        from edgesuite.export.exporter import export_run

        quiet_tensorflow()
        report, ok = export_run(self, formats, out, calibration_samples, eval_samples, log=log,
                                provenance={"edgesuite_version": __version__})
        return {**report, "ok": ok}

    def predictor(self):
        """The run's model behind the same :class:`~edgesuite.predictor.Predictor` as an exported file, with
        the metadata an export would write (``edgesuite.load`` and ``Run.predict`` decode alike)."""
        from edgesuite.export.runtime import ModelRuntime
        from edgesuite.predictor import Predictor

        return Predictor(ModelRuntime(self.load_model()), self.task.serving.metadata(self.info), str(self.path))

    def predict(self, inputs, save_dir: str | None = None, **options) -> list[dict]:
        """Decoded results per input; ``save_dir`` (tasks with per-input files: masks, drawn boxes) writes them;
        ``options``: the task's decoding options (translation: ``beam_size``)."""
        return self.predictor().predict(inputs, save_dir=save_dir, **options)
