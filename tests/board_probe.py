"""Runs exported files the way a board does: ``edgesuite.load`` and ``edgesuite predict`` with TensorFlow,
Keras and tensorflow-text refused at import, under any Python (a venv holding only numpy, Pillow,
ai-edge-litert, onnxruntime and edgesuite installed ``--no-deps``; or the project's own).

    python tests/board_probe.py REQUEST.json

REQUEST: ``{"files": [...], "inputs": [...], "out": "DIR"}``. Writes ``DIR/outputs.npz`` (raw outputs per file)
and ``DIR/report.json``: per file the seconds from opening it to its first prediction, or the error a user
sees; the CLI's output on the first file; the modules of the refused packages that were imported (none)."""

from __future__ import annotations

import importlib.abc
import io
import json
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

REFUSED = ("tensorflow", "keras", "tensorflow_text", "tf_keras", "yaml")  # a board venv has no PyYAML either


class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in REFUSED:
            raise ImportError(f"{name}: refused on a board (no TensorFlow here)")


def main(request_path: str) -> int:
    sys.meta_path.insert(0, Refuse())
    request = json.loads(Path(request_path).read_text())
    out = Path(request["out"])
    import numpy as np

    import edgesuite
    from edgesuite.cli import main as cli
    from edgesuite.common.errors import UserInputError

    report, arrays = {"files": {}}, {}
    for i, f in enumerate(request["files"]):
        start = time.perf_counter()
        try:
            predictor = edgesuite.load(f)
            arrays[str(i)] = predictor.predict_raw(request["inputs"])
            seconds = time.perf_counter() - start
            decoded = predictor.predict(request["inputs"])
            report["files"][f] = {
                "first_prediction_s": seconds,
                "described": [predictor.codec.describe(r) for r in decoded],
            }
        except UserInputError as exc:
            report["files"][f] = {"error": str(exc)}
    buf = io.StringIO()
    with redirect_stdout(buf):
        report["cli_rc"] = cli(["predict", request["files"][0], request["inputs"][0]])
    report["cli_output"] = buf.getvalue()
    report["refused_modules_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in REFUSED)
    report["python"] = sys.executable
    np.savez(out / "outputs.npz", **arrays)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
