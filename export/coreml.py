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


def image_input(metadata: dict):
    """The model input as a Core ML image (what Xcode's preview and Vision's ``VNCoreMLRequest`` feed a camera
    frame to), or None for a model that takes something else. Pixels go in as they are (scale 1, bias 0):
    the model normalizes inside (``metadata["normalization"]``)."""
    import coremltools as ct

    spec = metadata["input"]
    if spec.get("dtype") != "uint8" or len(spec.get("shape", [])) != 3 or spec["shape"][-1] not in (1, 3):
        return None
    h, w, c = spec["shape"]
    return ct.ImageType(
        name=spec["name"],
        shape=(1, h, w, c),
        scale=1.0,
        bias=[0.0] * c if c == 3 else 0.0,
        color_layout=ct.colorlayout.RGB if c == 3 else ct.colorlayout.GRAYSCALE,
        channel_first=False,
    )


def write(ctx: ExportContext, fmt, path: Path) -> None:
    import json
    import logging
    import shutil

    # coremltools warns at import that it was tested only to TF 2.12 and cannot predict on Linux: both known
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools as ct
    import tensorflow as tf

    from edgesuite.export.context import named_outputs

    md = ctx.metadata
    # Core ML takes one fixed shape per input: a sequence input gets the metadata's max_length
    signature = ctx.input_signature(1, ctx.numeric_input_dtype, fixed_length=md.get("max_length"))
    clone = ctx.numeric_input_model()
    labels = md.get("class_names") if md.get("kind") == "classifier" else None

    def outputs(*x):
        return named_outputs(clone, md["outputs"], x[0] if len(x) == 1 else list(x), ctx.coreml_outputs)

    names = list(tf.function(outputs, input_signature=signature).get_concrete_function().structured_outputs)
    fn = tf.function(lambda *x: [outputs(*x)[n] for n in names], input_signature=signature)
    image = image_input(md)
    nms = {"confidence", "coordinates"} <= set(names)  # a detector: Vision's NMS model follows in a pipeline
    mlmodel = ct.convert(
        [fn.get_concrete_function()],
        source="tensorflow",
        convert_to="mlprogram",
        inputs=[image]
        if image is not None
        else [ct.TensorType(name=s.name, shape=tuple(s.shape), dtype=np.dtype(s.dtype.name).type) for s in signature],
        classifier_config=ct.ClassifierConfig(labels) if labels else None,
        compute_precision=ct.precision.FLOAT32,  # the ML-program default is fp16; parity is checked as float32
        minimum_deployment_target=ct.target.iOS15,
    )
    if not labels:  # the graph's outputs (Identity, Identity_1...) by their names
        spec = mlmodel.get_spec()
        for out, name in zip(list(spec.description.output), names):
            ct.utils.rename_feature(spec, out.name, f"raw_{name}" if nms else name)
        mlmodel = ct.models.MLModel(spec, weights_dir=mlmodel.weights_dir)
    if nms:
        mlmodel = _with_nms(mlmodel, md)
    mlmodel.author = "edgesuite " + md["edgesuite_version"]
    mlmodel.license = md.get("license", "as the training data")
    mlmodel.short_description = f"{md['task']} trained on {md.get('data_name')} (run {md.get('source_run')})"
    mlmodel.version = md["edgesuite_version"]
    for spec in signature:
        mlmodel.input_description[spec.name] = (
            f"image {md['input']['shape'][:2]}, {'RGB' if md['input']['shape'][-1] == 3 else 'greyscale'} pixels as "
            f"they are ({md['normalization']})"
            if image is not None
            else f"{spec.name} {list(spec.shape[1:])}, {spec.dtype.name} ({md.get('preprocessing', '')})"
        )
    mlmodel.user_defined_metadata["edgesuite_metadata"] = json.dumps(md)
    tmp = staging_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    mlmodel.save(str(tmp))
    replace_atomically(tmp, path)


def _with_nms(mlmodel, metadata: dict):
    """The detector followed by Core ML's NonMaximumSuppression model, in one pipeline: what Vision turns into
    ``VNRecognizedObjectObservation`` (labels, confidence, normalized box). The run's thresholds are the
    defaults; ``iouThreshold`` and ``confidenceThreshold`` inputs override them (Xcode shows them as sliders)."""
    import coremltools as ct
    from coremltools.models import datatypes
    from coremltools.models.pipeline import Pipeline

    spec = mlmodel.get_spec()
    post, k = metadata["postprocessing_params"], len(metadata["class_names"])
    nms_spec = ct.proto.Model_pb2.Model()
    nms_spec.specificationVersion = spec.specificationVersion
    for name, width in (("confidence", k), ("coordinates", 4)):
        for features in (nms_spec.description.input, nms_spec.description.output):
            f = features.add()
            f.name = name if features is nms_spec.description.output else f"raw_{name}"
            array = f.type.multiArrayType
            array.dataType = ct.proto.FeatureTypes_pb2.ArrayFeatureType.FLOAT32
            for lo, hi in ((0, -1), (width, width)):  # any number of boxes, fixed width
                r = array.shapeRange.sizeRanges.add()
                r.lowerBound, r.upperBound = lo, hi
    for name, _value in (("iouThreshold", post["iou_threshold"]), ("confidenceThreshold", post["score_threshold"])):
        f = nms_spec.description.input.add()
        f.name = name
        f.type.doubleType.SetInParent()
        f.type.isOptional = True
    nms = nms_spec.nonMaximumSuppression
    nms.confidenceInputFeatureName, nms.coordinatesInputFeatureName = "raw_confidence", "raw_coordinates"
    nms.confidenceOutputFeatureName, nms.coordinatesOutputFeatureName = "confidence", "coordinates"
    nms.iouThresholdInputFeatureName, nms.confidenceThresholdInputFeatureName = "iouThreshold", "confidenceThreshold"
    nms.iouThreshold, nms.confidenceThreshold = float(post["iou_threshold"]), float(post["score_threshold"])
    nms.pickTop.perClass = True
    nms.stringClassLabels.vector.extend(metadata["class_names"])
    detector = ct.models.MLModel(spec, weights_dir=mlmodel.weights_dir)  # its outputs: raw_confidence, raw_coordinates
    image = spec.description.input[0]
    pipeline = Pipeline(
        input_features=[
            (image.name, datatypes.Array(1)),
            ("iouThreshold", datatypes.Double()),
            ("confidenceThreshold", datatypes.Double()),
        ],
        output_features=["confidence", "coordinates"],
    )
    pipeline.add_model(detector)
    pipeline.add_model(ct.models.MLModel(nms_spec))
    p = pipeline.spec
    p.specificationVersion = spec.specificationVersion
    p.description.input[0].CopyFrom(image)
    for i in (1, 2):
        p.description.input[i].type.isOptional = True
    for i, out in enumerate(nms_spec.description.output):
        p.description.output[i].CopyFrom(out)
    return ct.models.MLModel(p, weights_dir=mlmodel.weights_dir)


def _program_ops(spec) -> list:
    return [
        op
        for f in spec.mlProgram.functions.values()
        for block in f.block_specializations.values()
        for op in block.operations
    ]


def _classify_labels(ops) -> list[str]:
    """The labels an ML-program classifier holds: the immediate list fed to its ``classify`` op."""
    for op in ops:
        if op.type == "classify":
            value = op.inputs["classes"].arguments[0].value.immediateValue
            return [v.immediateValue.tensor.strings.values[0] for v in value.list.values]
    return []


def check_spec(path: Path, metadata: dict) -> dict:
    """What can be checked without running: inputs (an image type for image models, as Xcode and Vision need;
    name, shape and type otherwise), outputs, labels, op count; a detector is a pipeline ending in NMS."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    spec = ct.utils.load_spec(str(path))
    desc, problems = spec.description, []
    program, nms = spec, None
    if spec.WhichOneof("Type") == "pipeline":
        models = list(spec.pipeline.models)
        program = models[0]
        nms = next((m.nonMaximumSuppression for m in models if m.WhichOneof("Type") == "nonMaximumSuppression"), None)
    inputs = {i.name: i.type for i in desc.input if not i.type.isOptional}
    specs = metadata.get("model_input", metadata["input"])
    image = metadata["input"] if metadata["input"].get("dtype") == "uint8" else None
    if image is not None:
        h, w, c = image["shape"]
        t = inputs.get(image["name"])
        want = FeatureTypes_pb2.ImageFeatureType.RGB if c == 3 else FeatureTypes_pb2.ImageFeatureType.GRAYSCALE
        if t is None or t.WhichOneof("Type") != "imageType":
            problems.append(f"input {image['name']} is not an image type ({t.WhichOneof('Type') if t else 'missing'})")
        elif (t.imageType.height, t.imageType.width, t.imageType.colorSpace) != (h, w, want):
            problems.append(
                f"image input is {t.imageType.width}x{t.imageType.height} colour space "
                f"{t.imageType.colorSpace}, not {w}x{h} {'RGB' if c == 3 else 'greyscale'}"
            )
    else:
        for model_input in specs if isinstance(specs, list) else [specs]:
            name = model_input["name"]
            shape = [1, *[metadata.get("max_length") if d is None else d for d in model_input["shape"]]]
            t = inputs.get(name)
            if t is None or list(t.multiArrayType.shape) != shape:
                problems.append(f"input {name} is not {shape}")
            elif t.multiArrayType.dataType != FeatureTypes_pb2.ArrayFeatureType.INT32:
                problems.append(f"input {name} is not int32")
    outputs = [o.name for o in desc.output]
    kind = metadata.get("kind")
    if kind == "classifier" and desc.predictedFeatureName not in outputs:
        problems.append(f"classifier output {desc.predictedFeatureName!r} missing from {outputs}")
    if kind == "segmenter" and "class_map" not in outputs:
        problems.append(f"no class_map output in {outputs}")
    ops = _program_ops(program)
    labels = _classify_labels(ops) if kind == "classifier" else list(nms.stringClassLabels.vector) if nms else []
    if kind == "detector" and (nms is None or outputs != ["confidence", "coordinates"]):
        problems.append(f"not a pipeline ending in NonMaximumSuppression with confidence and coordinates ({outputs})")
    if kind in ("classifier", "detector") and labels != list(metadata["class_names"]):
        problems.append(f"class labels {labels} are not {metadata['class_names']}")
    if "edgesuite_metadata" not in desc.metadata.userDefined:
        problems.append("no edgesuite_metadata in the user-defined metadata")
    return {
        "inputs": {n: t.WhichOneof("Type") for n, t in inputs.items()},
        "outputs": outputs,
        "labels": len(labels),
        "ops": len(ops),
        "nms": nms is not None,
        "problems": problems,
    }


def verify(ctx, fmt, path: Path, x, reference, codec) -> dict | None:
    """The exporter's hook: where Core ML cannot predict (off macOS) or the file is a Vision pipeline with NMS
    inside, the spec is checked (inputs, ops, labels); None: the file runs through the runtime like the rest."""
    if can_predict() and ctx.metadata.get("kind") != "detector":
        return None
    spec = check_spec(path, ctx.metadata)
    status = "ok" if not spec["problems"] else "exported-but-mismatch"
    why = "a Vision pipeline with NMS inside" if spec["nms"] else "Core ML predicts only on macOS"
    image = "image input, " if "imageType" in spec["inputs"].values() else ""
    return {
        "status": status,
        "note": f"spec checked ({why}): {image}{spec['ops']} ops, {spec['labels']} labels"
        + ("; " + "; ".join(spec["problems"]) if spec["problems"] else ""),
    }
