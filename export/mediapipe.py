"""Standard TFLite Metadata in the ``.tflite`` files, so that MediaPipe Tasks take them as they are.

MediaPipe's Tasks (the same runtime on Android, iOS, the web and Python), Android Studio's model
binding and the TFLite Task Library read the TFLite Metadata schema: input normalisation, label
files packed into the model, the output layout. edgesuite writes it with MediaPipe's own
``metadata_writers`` (``pip install mediapipe``), beside its own ``edgesuite_metadata`` entry, which the
writer leaves in place. What applies is decided from the export metadata alone (``kind``, input):

    image classifier, RGB    ImageClassifier on model_*.tflite: labels, uint8 image input
    image segmenter          ImageSegmenter on model_*.tflite: labels; the class map described as a feature
    object detector          ObjectDetector on model_mediapipe*.tflite (``write``): its four NMS outputs
    text classifier          TextClassifier on model_mediapipe*.tflite: BERT tokenizer, three int32 inputs
    greyscale classifier     not applicable: MediaPipe takes 3 or 4 channels
    translator               not applicable: no MediaPipe task

The ``model_mediapipe*.tflite`` files (formats ``mediapipe``, ``mediapipe-int8``) hold the app's
``Serving.mediapipe_graph``, for the apps whose plain file has other inputs or outputs than the Task
reads; ``verify`` checks them through the Task itself against the Keras model.

The mediapipe 1.2.x wheels import a compiled module they no longer ship
(``mediapipe.tasks.cc.metadata.python._pywrap_metadata_version``), used only to compute the minimum
metadata parser version; :func:`min_parser_version` stands in for it with the rules of the schema's
version history (``metadata_schema.fbs``).
"""

from __future__ import annotations

import sys
import types

PARSER_MODULE = "mediapipe.tasks.cc.metadata.python._pywrap_metadata_version"


def applicability(metadata: dict, layout: str = "plain") -> str | None:
    """None when a MediaPipe Task takes the file as it is; else why not, in words for the report.

    ``layout``: ``plain`` for the ``model_*.tflite`` files (edgesuite's own inputs and outputs), ``task`` for
    ``model_mediapipe*.tflite`` (the Task's layout, for the apps whose plain file a Task cannot read)."""
    kind, spec = metadata.get("kind"), metadata.get("input", {})
    if kind == "classifier" and spec.get("dtype") == "string":
        return (
            None
            if layout == "task"
            else (
                "not applicable: TextClassifier tokenizes from a BERT tokenizer in the "
                "metadata, not tensorflow-text ops; model_mediapipe*.tflite carry it"
            )
        )
    if kind == "classifier":
        channels = spec.get("shape", [0, 0, 3])[-1]
        if channels not in (3, 4):
            return (
                None
                if layout == "task"
                else (
                    f"not applicable: {channels}-channel input; MediaPipe's ImageClassifier feeds 3 channels: "
                    "model_mediapipe*.tflite take RGB and make it grey inside"
                )
            )
    if kind in ("classifier", "segmenter"):
        return None if layout == "plain" else "not needed: the model_*.tflite files run in MediaPipe as they are"
    if kind == "detector":
        return (
            None
            if layout == "task"
            else ("not applicable: ObjectDetector reads four detection outputs; model_mediapipe*.tflite carry them")
        )
    return f"not applicable: no MediaPipe task for a {kind}"


def min_parser_version(metadata_buf: bytes) -> str:
    """The smallest metadata parser version that understands every populated field (the schema's history:
    1.0.1 VOCABULARY files, 1.1.0 process units, 1.2.0 tensor groups, 1.2.1 regex tokenizer, 1.3.0 audio,
    1.4.0 SCANN index files, 1.4.1 file versions, 1.5.0 subgraph custom metadata)."""
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    md = fb.ModelMetadataT.InitFromObj(fb.ModelMetadata.GetRootAsModelMetadata(metadata_buf, 0))
    found = [(1, 0, 0)]
    files = list(md.associatedFiles or [])
    units = []
    for sg in md.subgraphMetadata or []:
        files += list(sg.associatedFiles or [])
        tensors = list(sg.inputTensorMetadata or []) + list(sg.outputTensorMetadata or [])
        for t in tensors:
            files += list(t.associatedFiles or [])
            units += list(t.processUnits or [])
            if t.content is not None and t.content.contentPropertiesType == fb.ContentProperties.AudioProperties:
                found.append((1, 3, 0))
        if sg.inputProcessUnits or sg.outputProcessUnits:
            found.append((1, 1, 0))
            units += list(sg.inputProcessUnits or []) + list(sg.outputProcessUnits or [])
        if sg.inputTensorGroups or sg.outputTensorGroups:
            found.append((1, 2, 0))
        if sg.customMetadata:
            found.append((1, 5, 0))
    for f in files:
        if f.type == fb.AssociatedFileType.VOCABULARY:
            found.append((1, 0, 1))
        if f.type == fb.AssociatedFileType.SCANN_INDEX_FILE:
            found.append((1, 4, 0))
        if f.version:
            found.append((1, 4, 1))
    for u in units:
        if u.optionsType in (
            fb.ProcessUnitOptions.BertTokenizerOptions,
            fb.ProcessUnitOptions.SentencePieceTokenizerOptions,
        ):
            found.append((1, 1, 0))
        if u.optionsType == fb.ProcessUnitOptions.RegexTokenizerOptions:
            found.append((1, 2, 1))
    return ".".join(map(str, max(found)))


def _metadata_writer():
    """MediaPipe's ``metadata_writer`` module, with :func:`min_parser_version` standing in for the compiled
    module the 1.2.x wheels lack."""
    if PARSER_MODULE not in sys.modules:
        try:
            __import__(PARSER_MODULE)
        except ImportError:
            parts = PARSER_MODULE.split(".")
            for i in range(3, len(parts) + 1):
                name = ".".join(parts[:i])
                sys.modules.setdefault(name, types.ModuleType(name))
            sys.modules[PARSER_MODULE].GetMinimumMetadataParserVersion = min_parser_version
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    return metadata_writer


def _writer(mw, model_bytes: bytes):
    """MediaPipe's writer, its label-file folder removed by the caller: the writer's own ``__del__`` would do it
    at interpreter exit, when ``os`` is gone ("Exception ignored in MetadataWriter.__del__")."""

    class Writer(mw.MetadataWriter):
        def __del__(self):
            pass

    return Writer.create(bytearray(model_bytes))


def with_metadata(model_bytes: bytes, metadata: dict, output_names: list[str]) -> bytes:
    """The ``.tflite`` with standard metadata for its MediaPipe task (see :func:`applicability`).

    ``output_names``: the model's output tensors in file order, as their serving names (``class_map``,
    ``probabilities``), so that each gets the right description."""
    mw = _metadata_writer()
    from mediapipe.tasks.python.metadata.metadata_writers import image_segmenter

    writer = _writer(mw, model_bytes)
    # the names again under the locale the Tasks read display names from by default ("en"): filled, not empty
    labels = mw.Labels().add(list(metadata["class_names"])).add(list(metadata["class_names"]), locale="en")
    kind = metadata["kind"]
    writer.add_general_info(
        "ObjectDetector" if kind == "detector" else f"edgesuite {metadata.get('task')}",
        metadata.get("preprocessing", ""),
    )
    # uint8 input: MediaPipe feeds the pixels as they are (normalisation is inside the model); the mean and
    # std describe that identity for a runtime that reads them anyway
    writer.add_image_input([0.0], [1.0])  # RGB
    if kind == "detector":  # location, category, score, number of detections: the file's outputs in that order
        from mediapipe.tasks.python.metadata.metadata_writers import writer_utils

        writer.add_detection_output(labels)
        # the writer pairs these with the outputs by ascending tensor index, which the converter does not keep in
        # output order; populate() then places each by its tensor's name: name them by position instead
        for md, name in zip(writer._output_mds[-4:], writer_utils.get_output_tensor_names(bytearray(model_bytes))):
            md.tensor_name = name
    for name in output_names if kind != "detector" else []:
        if kind == "classifier" and (name == "probabilities" or len(output_names) == 1):
            writer.add_classification_output(labels)
        elif name == "probabilities" and kind == "segmenter":
            writer.add_segmentation_output(labels)
        else:
            writer.add_feature_output(name, (metadata.get("serving_outputs") or {}).get(name, name))
    if kind == "segmenter":  # the probabilities are a softmax already
        writer.add_custom_metadata(image_segmenter.ImageSegmenterOptionsMd(image_segmenter.Activation.NONE))
    try:
        out, _ = writer.populate()
    finally:
        writer._temp_folder.cleanup()
    return bytes(out)


def with_text_metadata(model_bytes: bytes, metadata: dict, vocab: list[str], input_names) -> bytes:
    """TextClassifier's metadata: a BERT tokenizer over ``vocab`` (packed into the file as vocab.txt) feeding the
    three inputs named ``input_names`` (ids, mask, segment ids), and the labelled probabilities."""
    import tempfile
    from pathlib import Path

    mw = _metadata_writer()
    writer = _writer(mw, model_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.txt"
        vocab_file.write_text("".join(v + "\n" for v in vocab), encoding="utf-8")
        writer.add_general_info("TextClassifier", metadata.get("preprocessing", ""))
        writer.add_bert_text_input(mw.BertTokenizer(str(vocab_file)), *[f"serving_default_{n}:0" for n in input_names])
        writer.add_classification_output(mw.Labels().add(list(metadata["class_names"])))
        try:
            out, _ = writer.populate()
        finally:
            writer._temp_folder.cleanup()
    return bytes(out)


def output_names(model_bytes: bytes) -> list[str]:
    """The serving names of a ``.tflite``'s outputs, in the order of its subgraph's output tensors."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=model_bytes)
    outputs = it._get_full_signature_list().get("serving_default", {}).get("outputs", {})
    by_index = {index: name for name, index in outputs.items()}
    return [by_index.get(d["index"], d["name"]) for d in it.get_output_details()]


def check(path, metadata: dict, x, outputs, precision: str, step: float = 0.0, limit: int = 100) -> str:
    """Runs the file through its MediaPipe Task with nothing but the model path, on the first ``limit`` parity
    inputs, against what edgesuite's runtime made of the same file (``outputs``: its probabilities): the
    report's MediaPipe cell (``ok: ...``, ``mismatch: ...``, ``not applicable: ...``). A class MediaPipe
    picks counts as the same when its probability is within the output's quantization ``step`` of the top
    one (an int8 file's ties)."""
    reason = applicability(metadata)
    if reason:
        return reason
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return "not checked: the mediapipe package is not installed"
    share, floor, text = _image_task_agreement(path, metadata, x, outputs, precision, step, limit)
    return ("ok: " if share >= floor else f"mismatch (< {floor:.0%}): ") + text


def _image_task_agreement(path, metadata: dict, x, outputs, precision: str, step: float, limit: int):
    """(share, floor, text): how often the image Task (classifier or segmenter) picks edgesuite's class."""
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import BaseOptions, vision

    n = min(limit, len(x))
    images = [mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(im[..., :3])) for im in x[:n]]
    base = BaseOptions(model_asset_path=str(path))
    probs = np.asarray(outputs[:n], np.float32)
    floor = 0.98 if precision == "int8" else 0.99
    if metadata["kind"] == "classifier":
        index = {name: i for i, name in enumerate(metadata["class_names"])}
        with vision.ImageClassifier.create_from_options(
            vision.ImageClassifierOptions(base_options=base, max_results=1)
        ) as task:
            got = [index.get(task.classify(im).classifications[0].categories[0].category_name, -1) for im in images]
        got = np.asarray(got)
        what = "ImageClassifier, label names from the metadata; its top-1 is edgesuite's on {share:.1%} of {n} images"
    else:
        options = vision.ImageSegmenterOptions(
            base_options=base, output_category_mask=True, output_confidence_masks=False
        )
        with vision.ImageSegmenter.create_from_options(options) as task:
            # copied at once: the view is into a buffer the next call reuses
            got = np.stack([task.segment(im).category_mask.numpy_view()[..., 0].copy() for im in images]).astype(
                np.int64
            )
        what = "ImageSegmenter, {k} labels; its class map is edgesuite's on {share:.2%} of the pixels of {n} images"
    valid = (got >= 0) & (got < probs.shape[-1])
    picked = np.take_along_axis(probs, np.clip(got, 0, probs.shape[-1] - 1)[..., None], axis=-1)[..., 0]
    same = valid & (picked >= probs.max(-1) - step - 1e-6)
    share = float(np.mean(same))
    return share, floor, what.format(share=share, n=n, k=len(metadata["class_names"]))


def write(ctx, fmt, path) -> None:
    """``model_mediapipe*.tflite``: the app's ``Serving.mediapipe_graph`` (the Task's own inputs and outputs)
    converted with builtin ops and given the Task's metadata, for the apps whose plain ``.tflite`` a Task
    cannot take as it is (the detector: MediaPipe's four detection outputs)."""
    import os

    import tensorflow as tf

    from edgesuite.export.context import staging_path
    from edgesuite.export.tflite import embed_metadata

    int8 = fmt.precision == "int8"
    model = ctx.numeric_input_model() if int8 else ctx.model
    graph = ctx.mediapipe_graph(model)
    if int8 and ctx.numeric_input_dtype:  # images: float 0..255 in the graph, uint8 in the file (scale 1)
        graph.signature = [tf.TensorSpec(s.shape, ctx.numeric_input_dtype, name=s.name) for s in graph.signature]
    # through a SavedModel of ExportArchive, whose variables convert (a concrete function keeps READ_VARIABLE
    # ops); its signature names the outputs output_0.. in the tuple's order, which the file keeps
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=graph.fn, input_signature=graph.signature)
    source = ctx._staging(f"savedmodel-{fmt.name}")
    archive.write_out(str(source), verbose=False)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(source))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if int8:
        samples = graph.representative(ctx.representative)

        def representative():
            for i in range(len(samples[0])):
                yield [a[i : i + 1].astype(s.dtype.as_numpy_dtype) for a, s in zip(samples, graph.signature)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        if ctx.numeric_input_dtype:
            conv.inference_input_type = tf.uint8
    float_scope = getattr(graph, "float_scope", None)
    converted = (
        _quantize_outside(conv, float_scope, ctx.numeric_input_dtype) if int8 and float_scope else conv.convert()
    )
    model_bytes = embed_metadata(_outputs_in_signature_order(converted), {**ctx.metadata, "format": fmt.name})
    if getattr(graph, "vocab", None):  # a text model: the BERT tokenizer's vocabulary file goes in the metadata
        model_bytes = with_text_metadata(model_bytes, ctx.metadata, graph.vocab, graph.input_names)
    else:
        model_bytes = with_metadata(model_bytes, ctx.metadata, output_names(model_bytes))
    tmp = staging_path(path)
    tmp.write_bytes(model_bytes)
    os.replace(tmp, path)


def _quantize_outside(conv, scope: str, input_dtype) -> bytes:
    """Full-integer quantization of everything but the ops under the name scope ``scope``, which stay float.

    A detector's box decoding and NMS quantized to int8 put every box on a grid of its tensor's range / 255 (a
    detector's boxes went through four requantizations between the head and the output) and moved them by up
    to 5 px of 64 in MediaPipe's ObjectDetector; in float after the quantized network they are as exact as
    the plain int8 file's decoding in numpy. The converter calibrates, then MLIR's quantizer runs with those ops
    deny-listed (the route of TensorFlow's QuantizationDebugger)."""
    import tensorflow as tf
    from tensorflow.lite.python import convert
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    conv._experimental_calibrate_only = True
    calibrated = conv.convert()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(calibrated))
    graph = model.subgraphs[0]
    kinds = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    inside, outside, denied = set(), set(), []
    for op in graph.operators:
        if op.outputs is None or not len(op.outputs):
            continue
        name = graph.tensors[op.outputs[0]].name
        name = name.decode() if isinstance(name, bytes) else name
        code = model.operatorCodes[op.opcodeIndex]
        kind = kinds.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        if any(part.startswith(f"{scope}/") for part in name.split(";")):
            denied.append(name)
            inside.add(kind)
        else:
            outside.add(kind)
    if not denied:
        raise RuntimeError(f"no op of the name scope {scope!r} in the converted graph: nothing would stay float")
    # ops the quantizer gives their input's scale (TOPK_V2, GATHER...) follow a quantized neighbour whatever their
    # name: deny-listed by kind too where the network has none of that kind
    return convert.mlir_quantize(
        calibrated,
        disable_per_channel=conv._experimental_disable_per_channel,
        input_data_type=tf.uint8 if input_dtype else tf.float32,
        output_data_type=tf.float32,
        denylisted_nodes=denied,
        denylisted_ops=sorted(inside - outside - {""}),
    )


def _outputs_in_signature_order(model_bytes: bytes) -> bytes:
    """The subgraph's outputs reordered to output_0, output_1, ... (the graph's tuple): a Task pairs its output
    metadata with the outputs by position, and the converter orders them as it likes."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    signature = model.signatureDefs[0]
    by_name = {m.name.decode() if isinstance(m.name, bytes) else m.name: m.tensorIndex for m in signature.outputs}
    model.subgraphs[0].outputs = [by_name[f"output_{i}"] for i in range(len(by_name))]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def verify_task(path, metadata: dict, x, reference, precision: str, codec, limit: int = 100) -> dict:
    """A ``model_mediapipe*.tflite`` through its MediaPipe Task, with nothing but the model path, against the
    Keras model on the parity inputs: the export report's status, MediaPipe cell and note for the file.

    Text classifier: TextClassifier's top label is the Keras model's on >= 98 % of the texts (its BERT
    tokenizer lower-cases ASCII only and keeps accents, where edgesuite's strips them).

    Detector: each Keras detection (after the same NMS, in numpy) is found by ObjectDetector under the same
    label, the Keras box truncated to whole pixels as MediaPipe's are: the float file every detection the graph
    emits at IoU >= 0.9 on >= 99 %; the int8 one by the plain int8 file's own rule (``verify``'s agreement:
    detections scoring >= 0.3, IoU >= 0.5, >= 98 %): an int8 network moves boxes by a pixel or so (the plain
    ``model_int8.tflite`` finds 88 % of the Keras boxes at IoU >= 0.9), which a small box's IoU feels. The
    median IoU of the pairs found is reported."""
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import BaseOptions, vision

    n = min(limit, len(x))
    base = BaseOptions(model_asset_path=str(path))
    if metadata["input"].get("dtype") == "string":
        return _verify_text(base, metadata, x[:n], np.asarray(reference[:n]), 0.01 if precision == "int8" else 0.0)
    if metadata["kind"] == "classifier":  # a greyscale classifier, fed RGB: the grey pixels in all three channels
        rgb = np.repeat(np.asarray(x[:n]), 3, axis=-1) if np.shape(x)[-1] == 1 else x[:n]
        # a label within the int8 output's step of the top one counts as the same, as for the plain files
        share, floor, text = _image_task_agreement(
            path, metadata, rgb, reference[:n], precision, 1 / 256 if precision == "int8" else 0.0, limit
        )
        ok = share >= floor
        return {
            "status": "ok" if ok else "exported-but-mismatch",
            "top1_agreement": share,
            "mediapipe": ("ok: " if ok else f"mismatch (< {floor:.0%}): ") + text,
            "note": "for MediaPipe Tasks: RGB in, made grey inside",
        }
    floor, least, overlap = (0.98, 0.3, 0.5) if precision == "int8" else (0.99, 0.0, 0.9)
    want = codec.detections(np.asarray(reference[:n]), metadata)
    size = metadata["input"]["shape"][0]
    found = total = 0
    ious = []
    with vision.ObjectDetector.create_from_options(vision.ObjectDetectorOptions(base_options=base)) as task:
        for im, ref in zip(x[:n], want):
            got = task.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(im[..., :3])))
            boxes = np.array(
                [
                    [
                        d.bounding_box.origin_x,
                        d.bounding_box.origin_y,
                        d.bounding_box.origin_x + d.bounding_box.width,
                        d.bounding_box.origin_y + d.bounding_box.height,
                    ]
                    for d in got.detections
                ],
                np.float64,
            )
            # a box the graph reports under several classes is one MediaPipe detection with several categories
            names = [{c.category_name for c in d.categories} for d in got.detections]
            for box, cls, score in zip(ref["boxes"], ref["classes"], ref["scores"]):
                if score < least:
                    continue
                total += 1
                x0, y0 = np.trunc(box[0] * size), np.trunc(box[1] * size)
                px = np.array(
                    [x0, y0, x0 + np.trunc((box[2] - box[0]) * size), y0 + np.trunc((box[3] - box[1]) * size)]
                )
                same = [i for i, labels in enumerate(names) if metadata["class_names"][cls] in labels]
                best = codec.iou_matrix(px[None], boxes[same]).max() if same else 0.0
                if best >= overlap:
                    found += 1
                    ious.append(best)
    share = found / total if total else 1.0
    text = (
        f"ObjectDetector finds {found} of {total} Keras detections{' scoring >= 0.3' if least else ''} "
        f"(same label, IoU >= {overlap}; median IoU {np.median(ious) if ious else 0:.2f}) on {n} images"
    )
    ok = share >= floor
    return {
        "status": "ok" if ok else "exported-but-mismatch",
        "top1_agreement": share,
        "mediapipe": ("ok: " if ok else f"mismatch (< {floor:.0%}): ") + text,
        "note": "for MediaPipe Tasks",
    }


def _verify_text(base, metadata: dict, texts, reference, tie: float) -> dict:
    """``tie``: a label whose Keras probability is within this of the top one counts as the same (int8's ties)."""
    import numpy as np
    from mediapipe.tasks.python import text

    index = {name: i for i, name in enumerate(metadata["class_names"])}
    with text.TextClassifier.create_from_options(text.TextClassifierOptions(base_options=base, max_results=1)) as task:
        got = np.array(
            [index.get(task.classify(str(t)).classifications[0].categories[0].category_name, -1) for t in texts]
        )
    valid = got >= 0
    picked = np.take_along_axis(reference, np.clip(got, 0, None)[:, None], axis=-1)[:, 0]
    same = valid & (picked >= reference.max(-1) - tie - 1e-6)
    share = float(same.mean()) if len(texts) else 1.0
    ties = int((same & (got != reference.argmax(-1))).sum())
    ok = share >= 0.98
    what = (
        f"TextClassifier, BERT tokenizer from the metadata; its label is the Keras model's on {share:.1%} of "
        f"{len(texts)} texts" + (f" ({ties} within {tie} of the top probability)" if ties else "")
    )
    return {
        "status": "ok" if ok else "exported-but-mismatch",
        "top1_agreement": share,
        "mediapipe": ("ok: " if ok else "mismatch (< 98%): ") + what,
        "note": "for MediaPipe Tasks",
    }


# ---- the exporter's hooks for the mediapipe formats (export/formats.py, the writer protocol) ----
def skip_reason(metadata: dict, log=None) -> str | None:
    """Why no MediaPipe Task takes this model (the exporter skips the file and says so), or None."""
    return applicability(metadata, layout="task")


def verify(ctx, fmt, path, x, reference, codec) -> dict:
    """The file checked through its MediaPipe Task against the Keras model (:func:`verify_task`), in place of
    edgesuite's runtime parity: its layout is the Task's, not the model's."""
    return verify_task(path, ctx.metadata, x, reference, fmt.precision, codec)
