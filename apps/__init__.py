"""The app registry: one table from a CLI task name to its package, and the parts read from it.

Each package ``edgesuite.apps.<package>`` holds ``config.py`` (``Config``), ``task.py`` (``TASK``, the
training ``common.task.Task``), ``serving.py`` (``SERVING``, the ``common.task.Serving`` that export and
prediction use; ``TASK.serving`` is it) and ``postprocess.py`` (the numpy-only codec that ``edgesuite.load``
serves an exported file with). Imports are lazy so that ``edgesuite --help`` never loads TensorFlow, and ``get_codec``
never does.
"""

from __future__ import annotations

import importlib

from edgesuite.common.errors import UserInputError

APPS = {
    "image-classification": "image_classification",
    "text-classification": "text_classification",
    "segmentation": "segmentation",
    "object-detection": "object_detection",
    "translation": "translation",
}
TASKS = tuple(APPS)


def _module(name: str, part: str):
    if name not in APPS:
        raise UserInputError(f"unknown task '{name}'; known tasks: {', '.join(APPS)}")
    return importlib.import_module(f"edgesuite.apps.{APPS[name]}.{part}")


def get_task(name: str):
    """The Task object of ``name`` (imports TensorFlow); unknown names list the known ones."""
    return _module(name, "task").TASK


def get_serving(name: str):
    """The task's serving description (metadata, serving graph, parity rules, codec); imports TensorFlow."""
    return _module(name, "serving").SERVING


def get_config_class(name: str):
    """The task's Config dataclass, without importing TensorFlow."""
    return _module(name, "config").Config


def get_inspector(name: str):
    """The task's data check and explanations (``apps/<package>/inspector.py``: ``inspect_data``, ``write_fixed``,
    ``explain``), what ``edgesuite data check`` and ``edgesuite explain`` call. Not named ``inspect.py``: a script
    run in the app's folder (``python apps/<package>/train.py``) would import it in place of Python's own."""
    return _module(name, "inspector")


def get_data(name: str):
    """The task's loaders module (``apps/<package>/data.py``); its ``CANVAS_FORMATS`` and ``write_canvas`` are
    what ``edgesuite data make-canvas`` writes."""
    return _module(name, "data")


def canvas_task(fmt: str) -> str:
    """The task whose ``edgesuite data make-canvas --format`` is ``fmt`` (the embedded canvases on disk)."""
    for name in TASKS:
        if fmt in getattr(get_data(name), "CANVAS_FORMATS", ()):
            return name
    raise UserInputError(f"--format: no app writes canvases as {fmt!r}")


def get_codec(name: str):
    """The task's numpy-only codec (preprocess, postprocess, describe, ...), without TensorFlow."""
    return _module(name, "postprocess")
