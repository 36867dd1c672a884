"""The contract cycle every app's shared run goes through (tests/test_contract.py lists where): the saved run
evaluates to the figures training wrote, the export report verified every format on the inputs asked for, and
the files load back through the public API, on a board without TensorFlow, in plain Keras and in a browser.

Each app runs it on the run and the all-format export its own tests already share (one training and one export
per app, not two)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CYCLE_FORMATS = ("keras", "h5", "tflite", "tflite-int8", "onnx", "web")  # what the checks below open


def _inputs(name: str, run):
    """What a user holds: image files of the run's data, or texts."""
    from edgesuite.apps import get_codec

    codec = get_codec(name)
    if name in ("translation", "text-classification"):
        return codec.example_input(run.task.serving.metadata(run.info)) + ["", "a second, longer line of words"]
    return codec.example_input(run.task.serving.metadata(run.info)).repeat(2, axis=0)


def check_cycle(name: str, run_path: Path, report: dict, eval_samples: int, tmp_path: Path) -> None:
    """``report``: the run's export report (``Run.export`` or export_report.json), asked for ``eval_samples``."""
    import edgesuite

    run = edgesuite.open_run(run_path)
    assert run.task.name == name
    trained = run.metrics
    again = run.evaluate()  # the saved model on the same test split gives the same figures
    assert again["split"] == "test"
    shared = [k for k, v in trained.items() if isinstance(v, float) and "ms" not in k and k in again]
    assert report["metric_name"] in shared, (report["metric_name"], sorted(trained), sorted(again))
    for key in shared:
        assert again[key] == pytest.approx(trained[key], abs=1e-4), key

    rows = {r["format"]: r for r in report["formats"]}
    assert set(CYCLE_FORMATS) <= set(rows), sorted(rows)
    assert {rows["keras"]["status"], rows["tflite"]["status"]} == {"ok"}, rows
    # parity on the count asked for, a small held-out split topped up from the others, for every app
    assert report["samples"] == eval_samples, report["samples"]

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
        if run.task.serving.parity_numeric:  # the run folder's model computes in its training policy
            if run.info.get("precision", "float32") == "float32":
                np.testing.assert_allclose(got, want, atol=1e-3, err_msg=fmt)
            else:  # bfloat16 keeps 8 bits of mantissa; the exported files compute in float32
                np.testing.assert_allclose(got, want, atol=2e-2, rtol=2e-2, err_msg=fmt)
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
