"""The contract every registered app keeps: a ``Task`` for training and a ``Serving`` for export and
prediction, reached through the one registry, and the same train -> evaluate -> export -> load cycle
(tests/cycle.py) for each of them through the public API, run where each app's shared run is."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from edgesuite.apps import APPS, get_codec, get_config_class, get_serving, get_task
from edgesuite.common.task import Serving, Task

ROOT = Path(__file__).resolve().parents[1]
CODEC_FUNCTIONS = ("preprocess", "postprocess", "describe", "example_input")


@pytest.mark.parametrize("name", APPS)
def test_the_registry_gives_one_task_and_its_serving_description(name):
    task, serving = get_task(name), get_serving(name)
    assert isinstance(task, Task) and isinstance(serving, Serving)  # ABCs: no abstract member left out
    assert task.serving is serving and task.name == serving.name == name
    assert task.Config is get_config_class(name)
    assert serving.codec is get_codec(name)
    assert all(callable(getattr(serving.codec, f, None)) for f in CODEC_FUNCTIONS)
    # the training Task no longer carries the export side
    assert not [m for m in dir(task) if m.startswith(("export_", "parity_", "predict_"))]


def _members_used(path: Path, names: tuple[str, ...]) -> set[str]:
    """Attributes read off a variable called one of ``names`` (``task.evaluate``, ``serving.reference``)."""
    used = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names:
            used.add(node.attr)
        if (
            isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr in names
        ):  # self.task.X, run.task.serving.X
            used.add(node.attr)
    return used


@pytest.mark.parametrize(
    "cls, variables, files",
    [
        (Task, ("task",), ("common/training.py", "export/exporter.py", "edgesuite/api.py", "edgesuite/cli.py")),
        (Serving, ("serving",), ("export/exporter.py", "edgesuite/api.py", "edgesuite/predictor.py")),
    ],
    ids=["Task", "Serving"],
)
def test_the_base_classes_declare_every_member_the_suite_calls(cls, variables, files):
    declared = {n for n, _ in inspect.getmembers(cls)} | set(getattr(cls, "__annotations__", {}))
    for f in files:
        missing = _members_used(ROOT / f, variables) - declared
        assert not missing, f"{f} calls {sorted(missing)} on a {cls.__name__}, which {cls.__name__} does not declare"


# ---- the cycle -----------------------------------------------------------------------------------------

# Where each app's shared run and its all-format export go through tests/cycle.py's check_cycle: train ->
# evaluate -> export -> load through the public API, on a board, in plain Keras and in a browser. Each app's own
# tests train and export that run anyway; the cycle reuses them rather than training and exporting a second time.
CYCLES = {
    "image-classification": "tests/export/test_export.py",
    "text-classification": "tests/apps/text_classification/test_end_to_end.py",
    "segmentation": "tests/apps/segmentation/test_end_to_end.py",
    "object-detection": "tests/apps/object_detection/test_end_to_end.py",
    "translation": "tests/apps/translation/test_end_to_end.py",
}


def test_every_registered_app_goes_through_the_cycle():
    assert set(CYCLES) == set(APPS)
    for name, path in CYCLES.items():
        tree = ast.parse((ROOT / path).read_text())
        calls = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "check_cycle"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == name
        ]
        tests = [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")]
        assert calls and "test_the_contract_cycle" in tests, f"{path} does not run check_cycle({name!r}, ...)"
