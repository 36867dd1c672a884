"""ONNX through tf2onnx from the serving function (the same graph as the SavedModel signature), run by onnxruntime."""

from __future__ import annotations

import os
from pathlib import Path

from edgesuite.export.context import ExportContext, staging_path
from edgesuite.export.files import METADATA_NAME

OPSET = 17  # supported by tf2onnx 1.17 and every onnxruntime >= 1.14


def convert(ctx: ExportContext) -> bytes:
    """tf2onnx from the serving function, with the metadata in ``metadata_props``: the file's bytes."""
    import tf2onnx

    model_proto, _ = tf2onnx.convert.from_function(ctx.serving_fn(), input_signature=ctx.input_signature(), opset=OPSET)
    for key, value in {
        **{k: str(v) for k, v in metadata_strings(ctx.metadata).items()},
        "onnx_opset": str(OPSET),
    }.items():
        entry = model_proto.metadata_props.add()
        entry.key, entry.value = key, value
    model_proto.producer_name = "edgesuite"
    return model_proto.SerializeToString()


def write(ctx: ExportContext, fmt, path: Path) -> None:
    tmp = staging_path(path)
    tmp.write_bytes(ctx.onnx_bytes())  # the web folder's model.onnx is the same file: one conversion for both
    os.replace(tmp, path)


def metadata_strings(metadata: dict) -> dict[str, str]:
    import json

    return {METADATA_NAME: json.dumps(metadata)}
