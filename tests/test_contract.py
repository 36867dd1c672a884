"""The contract every registered app keeps: a ``Task`` for training and a ``Serving`` for export and
prediction, reached through the one registry, and the same tiny train -> evaluate -> export -> load cycle
for each of them through the public API."""

from __future__ import annotations

import ast
import csv
import inspect
from pathlib import Path

import numpy as np
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


# ---- the tiny cycle ------------------------------------------------------------------------------------


def _image_folder(root: Path) -> Path:
    from PIL import Image

    from edgesuite.common.datasets.fashion_mnist import CLASS_NAMES, load_subset

    (x, y), _ = load_subset()
    for c in (0, 1, 7):
        (root / CLASS_NAMES[c].replace("/", "-")).mkdir(parents=True)
        for i, idx in enumerate(np.flatnonzero(y == c)[:16]):
            Image.fromarray(x[idx]).save(root / CLASS_NAMES[c].replace("/", "-") / f"{i}.png")
    return root


def _reviews(root: Path) -> Path:
    from edgesuite.common.datasets import rotten_tomatoes as rt

    root.mkdir(parents=True)
    rows, seen = [], {}
    with rt.open_text() as f:
        for r in csv.DictReader(f):
            if r["text"].strip() and seen.get(r["category"], 0) < 20:
                seen[r["category"]] = seen.get(r["category"], 0) + 1
                rows.append(r)
    with open(root / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows({"text": r["text"][:200], "label": r["category"]} for r in rows)
    return root / "reviews.csv"


def _verses(root: Path) -> Path:
    from edgesuite.common.datasets import bible_en_es as bible

    root.mkdir(parents=True)
    with bible.open_text() as f:
        rows = [line.rstrip("\n").split("\t") for line, _ in zip(f, range(120))]
    (root / "pairs.tsv").write_text("".join(f"{en}\t{es}\n" for _, en, es in rows), encoding="utf-8")
    return root / "pairs.tsv"


COMMON = {"epochs": 1, "batch_size": 16, "seed": 1, "precision": "float32", "early_stopping": 0}
TINY = {  # name: (data maker or None for the embedded canvases, knobs)
    "image-classification": (_image_folder, {}),
    "text-classification": (_reviews, {"model": "bow", "vocab_size": 300, "max_length": 16, "embed_dim": 8}),
    "segmentation": (None, {"canvas_count": 24, "image_size": 32, "width": 0.25}),
    "object-detection": (None, {"canvas_count": 24, "image_size": 32, "width": 0.25}),
    "translation": (
        _verses,
        {
            "layers": 1,
            "d_model": 16,
            "heads": 2,
            "ffn": 32,
            "vocab_size": 200,
            "max_length": 16,
            "eval_samples": 8,
            "beam_size": 1,
            "xla": False,
        },
    ),
}


def test_every_registered_app_has_a_tiny_cycle():
    assert set(TINY) == set(APPS)


def _inputs(name: str, run):
    """What a user holds: image files of the run's data, or texts."""
    codec = get_codec(name)
    if name in ("translation", "text-classification"):
        return codec.example_input(run.task.serving.metadata(run.info)) + ["", "a second, longer line of words"]
    return codec.example_input(run.task.serving.metadata(run.info)).repeat(2, axis=0)


@pytest.mark.parametrize("name", APPS)
def test_train_evaluate_export_load(name, tmp_path):
    import edgesuite

    make, knobs = TINY[name]
    data = {"data": str(make(tmp_path / "data"))} if make else {}
    run = edgesuite.train(name, **COMMON, **knobs, **data, out=str(tmp_path / "runs"), name="tiny")
    trained = run.metrics

    again = run.evaluate()  # the saved model on the same test split gives the same figures
    assert again["split"] == "test"
    for key, value in trained.items():
        if isinstance(value, float) and "ms" not in key:
            assert again[key] == pytest.approx(value, abs=1e-4), key

    report = run.export(
        "keras,h5,tflite,tflite-int8,onnx,web", calibration_samples=8, eval_samples=16, log=lambda _: None
    )
    rows = {r["format"]: r for r in report["formats"]}
    assert report["ok"] and {rows["keras"]["status"], rows["tflite"]["status"]} == {"ok"}, rows
    # parity on the count asked for, the small held-out split topped up from the others, for every app
    assert report["samples"] == 16, report["samples"]

    x = _inputs(name, run)
    from_run = run.predictor()
    want = from_run.predict_raw(x)
    for where in (run.path, run.path / "model.keras"):  # a user's first try after training
        opened = edgesuite.load(where)
        assert opened.task == name and opened.metadata == from_run.metadata, where
        np.testing.assert_array_equal(opened.predict_raw(x), want, err_msg=str(where))
    for fmt in ("keras", "tflite"):
        from_file = edgesuite.load(run.path / "export" / rows[fmt]["file"])
        assert from_file.task == name
        want, got = from_run.predict_raw(x), from_file.predict_raw(x)
        assert got.shape == want.shape, fmt
        if run.task.serving.parity_numeric:
            np.testing.assert_allclose(got, want, atol=1e-3, err_msg=fmt)
        else:  # decoded token ids: the same translations
            assert np.mean([np.array_equal(a, b) for a, b in zip(got, want)]) >= 2 / 3, fmt
        decoded = from_file.predict(x)
        assert len(decoded) == len(x) and all(from_file.codec.describe(r) for r in decoded)

    _check_on_board(name, run, rows, x, tmp_path)
    _check_in_plain_keras(run.path / "export")
    _check_in_the_browser(rows["web"], run.path / "export" / "web")


def _check_in_the_browser(row: dict, page: Path) -> None:
    """The web page ran the parity inputs in headless Chromium and decoded them as edgesuite does
    (``export/web.py``). Where Chromium or npm is missing the report says why and this passes, unless
    ``$EDGESUITE_REQUIRE_BROWSER`` (CI) says the browser must run; tests/export/test_web.py skips visibly then."""
    import os

    if not os.environ.get("EDGESUITE_REQUIRE_BROWSER") and (
        row["status"] == "skipped" or row.get("browser", "").startswith("not run")
    ):
        return
    assert row["status"] == "ok" and row.get("browser", "").startswith("ok: "), row
    assert (page / "screenshot.png").stat().st_size > 1000, "no screenshot of the page"


def _check_in_plain_keras(export: Path) -> None:
    """The README's promise: ``.h5`` and ``.keras`` of every app load with plain ``keras.models.load_model`` in a
    process that never imports edgesuite (no custom objects), and give the same outputs."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "keras_probe.py"), str(export)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=export,
    )
    assert done.returncode == 0, (done.stdout[-1000:], done.stderr[-3000:])


def _check_on_board(name: str, run, rows: dict, x, tmp_path: Path) -> None:
    """The ``.tflite`` and ``.onnx`` files through ``edgesuite.load`` and ``edgesuite predict`` with TensorFlow refused
    at import (``tests/board_probe.py``), under ``$EDGESUITE_BOARD_PYTHON`` (CI: a venv of numpy, Pillow,
    ai-edge-litert, onnxruntime and edgesuite ``--no-deps``) or this Python: the same outputs as here."""
    import json
    import os
    import subprocess
    import sys

    from PIL import Image

    import edgesuite

    inputs = list(x)
    if not isinstance(inputs[0], str):  # images: the files a user holds
        inputs = []
        for i, im in enumerate(x):
            Image.fromarray(
                np.asarray(im, np.uint8).squeeze(-1) if im.shape[-1] == 1 else np.asarray(im, np.uint8)
            ).save(tmp_path / f"in{i}.png")
            inputs.append(str(tmp_path / f"in{i}.png"))
    inputs = [t for t in inputs if t] or inputs  # an empty text is not a CLI argument
    files = [str(run.path / "export" / rows[f]["file"]) for f in ("tflite-int8", "onnx", "tflite")]
    out = tmp_path / "board"
    out.mkdir()
    (out / "request.json").write_text(json.dumps({"files": files, "inputs": inputs, "out": str(out)}))
    python = os.environ.get("EDGESUITE_BOARD_PYTHON") or sys.executable
    done = subprocess.run(
        [python, str(ROOT / "tests" / "board_probe.py"), str(out / "request.json")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["refused_modules_loaded"] == [] and report["cli_rc"] == 0 and report["cli_output"].strip(), report
    got = np.load(out / "outputs.npz")
    string_input = run.task.serving.metadata(run.info)["input"]["dtype"] == "string"
    for i, f in enumerate(files):
        entry = report["files"][f]
        if string_input and f.endswith("float32.tflite"):  # tokenizes in the graph with tensorflow-text ops
            assert "tensorflow-text" in entry["error"] and "model_int8.tflite" in entry["error"], entry
            continue
        assert "error" not in entry, entry
        np.testing.assert_allclose(got[str(i)], edgesuite.load(f).predict_raw(inputs), atol=1e-5, err_msg=f)
