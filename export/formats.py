"""The one table of export formats.

Each row: the CLI name, the file it writes under ``export/``, the module whose
``write(ctx, fmt, path)`` makes it, the runtime that loads it back
(``export/runtime.py``), its numeric precision (which sets the parity
thresholds in ``verify.py``), and what the format cannot carry.

An app keeps a model out of a format through its Serving's metadata:
``not_written`` maps a format name to the reason (a pretrained text encoder's
full-integer files). A writer module may also define, and the exporter calls
them without asking which format it is:

- ``skip_reason(metadata, log) -> str | None``: why this model is not written
  here (no MediaPipe Task takes it; no npm for the web page), before writing;
- ``verify(ctx, fmt, path, x, reference, codec) -> dict | None``: the file's
  own check in place of the runtime parity (a MediaPipe Task's layout; a Core ML
  spec where Core ML cannot predict), None for the common check;
- ``check_in_client(path, metadata, x, outputs, precision, codec, log, step)
  -> dict``: the report cells of the file's own client after parity (MediaPipe
  for a ``.tflite``, Chromium for the web page); a ``status`` in them marks a
  mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesuite.common.errors import UserInputError


@dataclass(frozen=True)
class Format:
    name: str
    filename: str
    writer: str  # module under edgesuite.export with write(ctx, fmt, path)
    runtime: str  # keras | savedmodel | tflite | onnx | coreml
    precision: str  # float32 | float16 | dynamic | int8
    cannot_carry: str  # what a user loses in this format


FORMATS: dict[str, Format] = {
    f.name: f
    for f in [
        Format(
            "savedmodel",
            "savedmodel",
            "savedmodel",
            "savedmodel",
            "float32",
            "Keras layer objects and training config (serving graph only)",
        ),
        Format("keras", "model.keras", "keras_files", "keras", "float32", "nothing: the full Keras model"),
        Format(
            "h5",
            "model.h5",
            "keras_files",
            "keras",
            "float32",
            "optimizer state and Keras 3-only layer options (legacy format)",
        ),
        Format(
            "tflite", "model_float32.tflite", "tflite", "tflite", "float32", "training; dynamic batch beyond resize"
        ),
        Format("tflite-fp16", "model_fp16.tflite", "tflite", "tflite", "float16", "exact float32 weights"),
        Format(
            "tflite-dynamic",
            "model_dynamic.tflite",
            "tflite",
            "tflite",
            "dynamic",
            "exact weights (int8 weights, float activations)",
        ),
        Format(
            "tflite-int8",
            "model_int8.tflite",
            "tflite",
            "tflite",
            "int8",
            "float activations: uint8 in, uint8 out, int8 inside",
        ),
        Format(
            "mediapipe",
            "model_mediapipe.tflite",
            "mediapipe",
            "tflite",
            "float32",
            "edgesuite's own outputs: the MediaPipe Task's inputs and outputs only (detector, text classifier)",
        ),
        Format(
            "mediapipe-int8",
            "model_mediapipe_int8.tflite",
            "mediapipe",
            "tflite",
            "int8",
            "edgesuite's own outputs; float activations (int8 inside)",
        ),
        Format(
            "coreml",
            "model.mlpackage",
            "coreml",
            "coreml",
            "float32",
            "uint8 input (Core ML takes float32 0..255 instead); runs only on macOS",
        ),
        Format("onnx", "model.onnx", "onnx_format", "onnx", "float32", "Keras layer objects (graph only)"),
        # a folder: the page around its model.onnx (ONNX Runtime Web), checked in headless Chromium (export/web.py)
        Format(
            "web",
            "web/model.onnx",
            "web",
            "onnx",
            "float32",
            "threads and GPU in the page (one wasm thread: a static server sends no COOP/COEP headers)",
        ),
    ]
}


def parse_formats(spec: str | list[str]) -> list[Format]:
    """``all`` or a comma-separated list of names; an unknown name lists the known ones."""
    names = spec if isinstance(spec, list) else [s.strip() for s in spec.split(",") if s.strip()]
    if not names:  # an empty --formats "" is a slip (an unset shell variable), not a request for every format
        raise UserInputError(
            f"--formats: expected 'all' or a comma-separated list of formats ({', '.join(FORMATS)}), got {spec!r}"
        )
    if names == ["all"]:
        return list(FORMATS.values())
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise UserInputError(f"--formats: unknown format '{unknown[0]}'; known: all, {', '.join(FORMATS)}")
    return [FORMATS[n] for n in dict.fromkeys(names)]


def runtime_for(path) -> str:
    """Which runtime opens ``path``, by suffix (a SavedModel is a folder with saved_model.pb)."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir() and (p / "saved_model.pb").exists():
        return "savedmodel"
    suffix = p.suffix.lower()
    table = {".keras": "keras", ".h5": "keras", ".tflite": "tflite", ".onnx": "onnx", ".mlpackage": "coreml"}
    if suffix not in table:
        raise UserInputError(
            f"{path}: not a model file edgesuite can load (expected a SavedModel folder, "
            ".keras, .h5, .tflite, .onnx or .mlpackage)"
        )
    return table[suffix]
