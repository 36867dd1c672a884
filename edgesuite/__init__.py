"""edgesuite: train Keras models on your data and ship them to the edge.

The Python face mirrors the CLI::

    import edgesuite
    run = edgesuite.train("image-classification", epochs=5)
    run.evaluate()
    run.predict(["shirt.png"])
    run.export()
    edgesuite.load("saved_models/image-classification/latest/export/model_int8.tflite").predict(["shirt.png"])
"""

from __future__ import annotations

__version__ = "0.1.0"


def train(task: str, resume: str | None = None, config: str | None = None, **knobs):
    """Trains ``task`` (``image-classification``, ...) and returns its :class:`Run`.

    ``knobs`` are the task config fields (``epochs=5``, ``data="path"``);
    ``config`` a YAML file they override, as on the CLI.
    """
    from edgesuite.api import train as _train

    return _train(task, resume=resume, config=config, **knobs)


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
