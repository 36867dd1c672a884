"""The app registry: CLI task name -> the module path of its Task.

Imports are lazy so that ``edgesuite --help`` never loads TensorFlow.
"""

from __future__ import annotations

import importlib

from edgesuite.common.errors import UserInputError

TASKS = {
    "image-classification": "edgesuite.apps.image_classification.task",
    "text-classification": "edgesuite.apps.text_classification.task",
    "segmentation": "edgesuite.apps.segmentation.task",
    "object-detection": "edgesuite.apps.object_detection.task",
    "translation": "edgesuite.apps.translation.task",
}
# numpy-only decoding per task, what edgesuite.load uses on a board without TensorFlow
POSTPROCESS = {
    "image-classification": "edgesuite.apps.image_classification.postprocess",
    "text-classification": "edgesuite.apps.text_classification.postprocess",
    "segmentation": "edgesuite.apps.segmentation.postprocess",
    "object-detection": "edgesuite.apps.object_detection.postprocess",
    "translation": "edgesuite.apps.translation.postprocess",
}


def get_task(name: str):
    """Returns the Task object of ``name``; unknown names list the known ones."""
    if name not in TASKS:
        raise UserInputError(f"unknown task '{name}'; known tasks: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name]).TASK


def get_config_class(name: str):
    """The task's Config dataclass, without importing TensorFlow."""
    if name not in TASKS:
        raise UserInputError(f"unknown task '{name}'; known tasks: {', '.join(TASKS)}")
    return importlib.import_module(TASKS[name].rsplit(".", 1)[0] + ".config").Config
