"""Reading an exported file without TensorFlow: the op names and edgesuite metadata of a ``.tflite``
(LiteRT's flatbuffer schema) and of an ``.onnx`` file (the onnx package).

``edgesuite.load`` and ``export/runtime.py`` read files through this module on a board that has
numpy, Pillow and a runtime only; the writers (``tflite.py``, ``onnx_format.py``) import TensorFlow
and Keras and are for the machine that exports.
"""

from __future__ import annotations

import json
from pathlib import Path

METADATA_NAME = "edgesuite_metadata"  # the .tflite metadata entry and the ONNX metadata_props key


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


def op_names(model_bytes: bytes) -> list[str]:
    """Operator names of a .tflite flatbuffer; custom ops as ``custom:<name>``."""
    schema = _schema()
    model = schema.Model.GetRootAsModel(model_bytes, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.append("custom:" + code.CustomCode().decode())
        else:
            ops.append(names.get(builtin, str(builtin)))
    return ops


def read_tflite_metadata(model_bytes: bytes) -> dict | None:
    """The edgesuite metadata JSON stored in a .tflite flatbuffer's metadata table, or None."""
    schema = _schema()
    model = schema.Model.GetRootAsModel(model_bytes, 0)
    for i in range(model.MetadataLength()):
        md = model.Metadata(i)
        if md.Name() and md.Name().decode() == METADATA_NAME:
            buf = model.Buffers(md.Buffer())
            return json.loads(buf.DataAsNumpy().tobytes().decode())
    return None


def read_onnx_metadata(path: Path) -> dict | None:
    """The edgesuite metadata JSON in an ONNX file's ``metadata_props``, or None."""
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return json.loads(props[METADATA_NAME]) if METADATA_NAME in props else None
