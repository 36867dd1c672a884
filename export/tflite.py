"""TFLite: float32, float16, dynamic-range and full-integer int8, builtin ops only.

Converted from the staging SavedModel (``TFLiteConverter.from_saved_model``,
the route seen to work on this stack for float and int8). int8 calibrates on
real training images (the Task's ``representative_data``); its input and
output are uint8. The metadata JSON is stored in the flatbuffer's metadata
table under ``edgesuite_metadata``; image classifiers and segmenters also get
the standard TFLite Metadata that MediaPipe Tasks read (``mediapipe.py``). Every written file's op list is checked:
a custom or Flex (Select TF) op is a failure, since a plain LiteRT runtime on
a board has no kernel for it — except the ops the metadata lists under
``tflite_custom_ops`` (the tensorflow-text tokenizer ops, which have TFLite
kernels: ``tensorflow_text.tflite_registrar``) in the string-input files.
int8 converts from the model input (float 0..255 images, or token ids).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from edgesuite.export import mediapipe
from edgesuite.export.context import ExportContext, staging_path
from edgesuite.export.files import METADATA_NAME, op_names


class NonBuiltinOpsError(RuntimeError):
    pass


def embed_metadata(model_bytes: bytes, metadata: dict) -> bytes:
    from tensorflow.lite.python import schema_py_generated as tfschema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    buf = tfschema.BufferT()
    buf.data = np.frombuffer(json.dumps(metadata).encode(), dtype=np.uint8)
    model.buffers.append(buf)
    md = tfschema.MetadataT()
    md.name = METADATA_NAME
    md.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [md]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def convert(ctx: ExportContext, precision: str) -> bytes:
    import tensorflow as tf

    from edgesuite.export.savedmodel import TFLITE_SIGNATURE

    source = ctx.numeric_input_savedmodel_dir() if precision == "int8" else ctx.savedmodel_dir()
    # a task's serving module (a decoding loop) converts from its token_ids signature: no RegexReplace in it
    key = TFLITE_SIGNATURE if precision != "int8" and ctx.serving_module is not None else "serving_default"
    conv = tf.lite.TFLiteConverter.from_saved_model(str(source), signature_keys=[key])
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision != "int8" and ctx.metadata.get("tflite_custom_ops"):
        conv.allow_custom_ops = True  # the tokenizer's tensorflow-text ops (checked against the allowed list in write)
    if precision == "float16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        samples = ctx.representative if isinstance(ctx.representative, tuple) else (ctx.representative,)
        dtypes = [ctx.numeric_input_dtype or spec["dtype"] for spec in ctx.model_inputs]

        def representative():
            for i in range(len(samples[0])):
                yield [a[i : i + 1].astype(d) for a, d in zip(samples, dtypes)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if ctx.model_input["dtype"] == "uint8":
            conv.inference_input_type = tf.uint8  # the float 0..255 input becomes uint8 with scale 1
        conv.inference_output_type = tf.uint8
    return conv.convert()


def write(ctx: ExportContext, fmt, path: Path) -> None:
    model_bytes = embed_metadata(convert(ctx, fmt.precision), {**ctx.metadata, "format": fmt.name})
    allowed = set(ctx.metadata.get("tflite_custom_ops", [])) if fmt.precision != "int8" else set()
    foreign = sorted({op for op in op_names(model_bytes) if op.startswith("custom:") and op[7:] not in allowed})
    if foreign:
        raise NonBuiltinOpsError(f"non-builtin ops {', '.join(foreign)}: a plain LiteRT runtime cannot run them")
    if mediapipe.applicability(ctx.metadata) is None:  # standard TFLite Metadata for MediaPipe Tasks beside ours
        model_bytes = mediapipe.with_metadata(model_bytes, ctx.metadata, mediapipe.output_names(model_bytes))
    tmp = staging_path(path)
    tmp.write_bytes(model_bytes)
    os.replace(tmp, path)


def check_in_client(path: Path, metadata: dict, x, outputs, precision: str, codec, log=None, step: float = 0.0) -> dict:
    """The exporter's hook after parity: the file run by its MediaPipe Task from the path alone, against
    edgesuite's runtime on the same inputs (the report's ``mediapipe`` cell)."""
    cell = mediapipe.check(path, metadata, x, outputs, precision, step)
    if log:
        log(f"{path.name}: MediaPipe {cell}")
    return {"mediapipe": cell}
