"""Core ML ``.mlpackage`` (ML program) from a single concrete function.

``coremltools.convert(SavedModel dir)`` fails on this stack ("Only a single
concrete function is supported"), so the converter gets one. Core ML inputs
cannot be uint8, so an image model is cloned over a float32 input of the same
shape (values 0..255, as the metadata says); a text model takes int32 token ids. Classifiers carry their labels through
``ClassifierConfig``. coremltools cannot predict on Linux: there the spec is
what ``verify`` checks (``check_spec``); on macOS it runs like every format.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from edgesuite.export.context import ExportContext, replace_atomically, staging_path


def can_predict() -> bool:
    return sys.platform == "darwin"


def write(ctx: ExportContext, fmt, path: Path) -> None:
    import logging
    import shutil

    # coremltools warns at import that it was tested only to TF 2.12 and cannot predict on Linux: both known
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct
    import tensorflow as tf

    # Core ML takes one fixed shape per input: a sequence input gets the metadata's max_length
    signature = ctx.input_signature(1, ctx.numeric_input_dtype, fixed_length=ctx.metadata.get("max_length"))
    shape, dtype = list(signature[0].shape[1:]), np.dtype(signature[0].dtype.name)
    clone = ctx.numeric_input_model()
    fn = tf.function(lambda *x: clone(x[0] if len(x) == 1 else list(x), training=False), input_signature=signature)
    labels = ctx.metadata.get("class_names") if ctx.metadata.get("kind") == "classifier" else None
    mlmodel = ct.convert(
        [fn.get_concrete_function()], source="tensorflow", convert_to="mlprogram",
        inputs=[ct.TensorType(name=s.name, shape=tuple(s.shape), dtype=np.dtype(s.dtype.name).type) for s in signature],
        classifier_config=ct.ClassifierConfig(labels) if labels else None,
        compute_precision=ct.precision.FLOAT32,  # the ML-program default is fp16; parity is checked as float32
        minimum_deployment_target=ct.target.iOS15)
    md = ctx.metadata
    mlmodel.author = "edgesuite " + md["edgesuite_version"]
    mlmodel.license = md.get("license", "as the training data")
    mlmodel.short_description = f"{md['task']} trained on {md.get('data_name')} (run {md.get('source_run')})"
    mlmodel.version = md["edgesuite_version"]
    for spec in signature:
        mlmodel.input_description[spec.name] = (
            f"image {shape}, float32 values 0..255 ({md['normalization']})" if dtype == np.float32
            else f"{spec.name} {list(spec.shape[1:])}, {spec.dtype.name} ({md.get('preprocessing', '')})")
    import json

    mlmodel.user_defined_metadata["edgesuite_metadata"] = json.dumps(md)
    tmp = staging_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    mlmodel.save(str(tmp))
    replace_atomically(tmp, path)


def _program_ops(spec) -> list:
    return [op for f in spec.mlProgram.functions.values() for block in f.block_specializations.values()
            for op in block.operations]


def _classify_labels(ops) -> list[str]:
    """The labels an ML-program classifier holds: the immediate list fed to its ``classify`` op."""
    for op in ops:
        if op.type == "classify":
            value = op.inputs["classes"].arguments[0].value.immediateValue
            return [v.immediateValue.tensor.strings.values[0] for v in value.list.values]
    return []


def check_spec(path: Path, metadata: dict) -> dict:
    """What can be checked without running: input name, shape and type, outputs, labels, op count."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    desc = spec.description
    specs = metadata.get("model_input", metadata["input"])
    inputs = {i.name: list(i.type.multiArrayType.shape) for i in desc.input}
    types = {i.name: i.type.multiArrayType.dataType for i in desc.input}
    problems = []
    from coremltools.proto import FeatureTypes_pb2

    for model_input in specs if isinstance(specs, list) else [specs]:
        name = model_input["name"]
        shape = [1, *[metadata.get("max_length") if d is None else d for d in model_input["shape"]]]
        if inputs.get(name) != shape:
            problems.append(f"input {inputs} is not {name} {shape}")
        want = "INT32" if model_input["dtype"] == "int32" else "FLOAT32"  # uint8 images travel as float32
        if types.get(name) != getattr(FeatureTypes_pb2.ArrayFeatureType, want):
            problems.append(f"input {name} is not {want.lower()}")
    outputs = [o.name for o in desc.output]
    if metadata.get("kind") == "classifier" and desc.predictedFeatureName not in outputs:
        problems.append(f"classifier output {desc.predictedFeatureName!r} missing from {outputs}")
    ops = _program_ops(spec)
    labels = _classify_labels(ops)
    if metadata.get("kind") == "classifier" and labels != list(metadata["class_names"]):
        problems.append(f"class labels {labels} are not {metadata['class_names']}")
    if "edgesuite_metadata" not in desc.metadata.userDefined:
        problems.append("no edgesuite_metadata in the user-defined metadata")
    return {"inputs": inputs, "outputs": outputs, "labels": len(labels), "ops": len(ops),
            "problems": problems}
