"""edgesuite: train Keras models on your data and ship them to the edge.

The Python face mirrors the CLI::

    import edgesuite
    run = edgesuite.train("image-classification", epochs=5)
    best = edgesuite.tune("image-classification", trials=10, time_budget=20)   # best.best_config
    run.evaluate()
    run.predict(["shirt.png"])
    run.export()
    edgesuite.load("saved_models/image-classification/latest/export/model_int8.tflite").predict(["shirt.png"])
"""

from __future__ import annotations

from edgesuite.common.log import install_console

__version__ = "0.1.0"
install_console()  # INFO to stdout, warnings to stderr, the message alone (common/log.py says how to change it)


def train(task: str, resume: str | None = None, config: str | None = None, **knobs):
    """Trains ``task`` (``image-classification``, ...) and returns its :class:`Run`.

    ``knobs`` are the task config fields (``epochs=5``, ``data="path"``);
    ``config`` a YAML file they override, as on the CLI.
    """
    from edgesuite.api import train as _train

    return _train(task, resume=resume, config=config, **knobs)


def tune(
    task: str,
    trials: int = 20,
    space=None,
    storage: str | None = None,
    study: str = "study",
    config: str | None = None,
    **knobs,
):
    """Searches ``task``'s knobs (``space``: ``"lr,batch_size"`` or a list; default lr, weight_decay,
    batch_size) over ``trials`` runs on the validation split; ``knobs`` as for :func:`train` hold the rest
    (``time_budget`` is the whole search's). Returns a ``TuneResult`` (``best_config`` reproduces the best
    trial: ``train(task, config=result.best_config)``)."""
    from edgesuite.api import tune as _tune

    return _tune(task, trials=trials, space=space, storage=storage, study=study, config=config, **knobs)


def check_data(
    task: str, out: str | None = None, fix=None, label_errors: bool = True, config: str | None = None, **knobs
):
    """``edgesuite data check``: duplicates, leaks across the run's splits, label conflicts and suspected label
    errors, balance and the app's statistics of ``task``'s data (``knobs`` as for :func:`train`); writes the
    report folder and, with ``fix``, a cleaned copy. Returns the findings as data (``result.rows()``)."""
    from edgesuite.inspection import check_data as _check

    return _check(task, out=out, fix=fix, label_errors=label_errors, config=config, **knobs)


def explain(run_or_file: str, inputs, save_dir: str | None = None, target: str | None = None, box: int | None = None):
    """``edgesuite explain``: heat maps (images), token attributions (text) or cross-attention (translation) for
    each input, as arrays and rows; pictures in ``save_dir`` when given."""
    from edgesuite.inspection import explain as _explain

    return _explain(run_or_file, inputs, save_dir=save_dir, target=target, box=box)


def load(path: str, threads: int | None = None, safe_mode: bool = True):
    """Opens an exported model (.tflite, .onnx, .keras, .h5, SavedModel, .mlpackage on macOS).

    ``load(path).predict(images)`` returns decoded results (labels and scores).
    """
    from edgesuite.predictor import load as _load

    return _load(path, threads=threads, safe_mode=safe_mode)


def open_run(path: str):
    """Opens a finished run directory (``saved_models/<task>/latest``)."""
    from edgesuite.api import Run

    return Run.open(path)
