"""Runs an exported file: raw outputs as numpy, no app knowledge.

``open_runtime(path)`` picks the runtime by suffix. TFLite goes through the
plain LiteRT interpreter (``ai_edge_litert``), ONNX through onnxruntime; only
``.keras``/``.h5``/SavedModel import TensorFlow. ``.keras``/``.h5`` load with
Keras ``safe_mode`` on unless the caller opts out (a model file a user was
handed is untrusted input).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from edgesuite.common.errors import UserInputError
from edgesuite.export.formats import runtime_for


class Runtime:
    kind = ""
    input_dtype = "uint8"  # what run() takes: "string" (raw UTF-8 texts), "int32" (token ids), "uint8", "float32"
    input_count = 1  # > 1: run() takes a list of arrays, in the model's input order
    fixed_length = None  # sequence inputs of a format with static shapes (Core ML) are padded to this

    def __init__(self, path: Path, threads: int | None = None, safe_mode: bool = True):
        self.path = Path(path)

    def run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def output_step(self) -> float:
        """The smallest change the main output can show: the scale of a quantized output, 0 for floats."""
        return 0.0

    def run_batched(self, x: np.ndarray, batch: int = 64) -> np.ndarray:
        return np.concatenate([self.run(x[i : i + batch]) for i in range(0, len(x), batch)])


class KerasRuntime(Runtime):
    kind = "keras"

    def __init__(self, path, threads=None, safe_mode=True):
        super().__init__(path)
        import keras

        from edgesuite.export.keras_files import h5_custom_objects

        if self.path.suffix == ".keras" and not zipfile.is_zipfile(self.path):  # Keras says only "File not found"
            what = "a folder" if self.path.is_dir() else f"{self.path.stat().st_size:,} bytes"
            raise UserInputError(
                f"{path}: not a whole .keras archive ({what}; cut short or damaged); copy it again "
                "from where it came, or write it again (an export: edgesuite export RUN; a run's "
                "model.keras: edgesuite train TASK --resume RUN)"
            )
        try:
            objects = h5_custom_objects(self.path) if self.path.suffix == ".h5" else None
            self.model = keras.models.load_model(self.path, compile=False, safe_mode=safe_mode, custom_objects=objects)
        except Exception as exc:  # a broken zip / HDF5 file, or unsafe content
            raise UserInputError(f"{path}: cannot load the Keras model ({exc.__class__.__name__}: {exc})") from None
        self.input_dtype = self.model.inputs[0].dtype
        self.input_count = len(self.model.inputs)

    EAGER_CALLS = 2  # calls run eagerly (no trace); a runtime called again and again (a decoding loop) compiles

    def run(self, x):
        self._calls = getattr(self, "_calls", 0) + 1
        if self._calls <= self.EAGER_CALLS:
            return np.asarray(self.model(x, training=False), dtype=np.float32)
        if getattr(self, "_graph", None) is None:
            import tensorflow as tf

            model = self.model
            self._graph = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return np.asarray(self._graph(x), dtype=np.float32)


class ModelRuntime(KerasRuntime):
    """An in-memory Keras model behind the Runtime interface (what export compares every file with)."""

    def __init__(self, model):
        self.path, self.model = Path(model.name), model
        self.input_dtype = model.inputs[0].dtype
        self.input_count = len(model.inputs)


class SavedModelRuntime(Runtime):
    kind = "savedmodel"

    def __init__(self, path, threads=None, safe_mode=True):
        super().__init__(path)
        import tensorflow as tf

        try:  # a text model's signature tokenizes with tensorflow-text ops, registered by importing it
            import tensorflow_text  # noqa: F401
        except ImportError:
            pass
        try:
            self.fn = tf.saved_model.load(str(self.path)).signatures["serving_default"]
        except Exception as exc:
            raise UserInputError(f"{path}: cannot load the SavedModel ({exc.__class__.__name__}: {exc})") from None
        self.input_name = next(iter(self.fn.structured_input_signature[1]))
        self.input_dtype = self.fn.structured_input_signature[1][self.input_name].dtype.name
        self.output_name = main_output(self.fn.structured_outputs)

    def run(self, x):
        import tensorflow as tf

        return self.fn(**{self.input_name: tf.constant(x)})[self.output_name].numpy().astype(np.float32)


class TFLiteRuntime(Runtime):
    kind = "tflite"

    def __init__(self, path, threads=None, safe_mode=True):
        super().__init__(path)
        from ai_edge_litert.interpreter import Interpreter, InterpreterWithCustomOps

        from edgesuite.export.files import op_names, read_tflite_metadata

        try:
            data = self.path.read_bytes()
            custom = [op for op in op_names(data) if op.startswith("custom:")]
            made_for = (read_tflite_metadata(data) or {}).get("format", "")
        except Exception as exc:  # not a flatbuffer at all: struct.error, IndexError...
            why = f"{type(exc).__module__}.{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise UserInputError(
                f"{path}: not a loadable .tflite model (not a TFLite flatbuffer; reading it failed with {why})"
            ) from None
        if made_for.startswith("mediapipe"):
            raise UserInputError(
                f"{path}: made for MediaPipe Tasks (their inputs and outputs, not edgesuite's): open "
                "it with mediapipe.tasks; edgesuite.load takes the model_*.tflite beside it"
            )
        try:
            if custom:  # the tokenizer ops of a string-input text model: kernels from tensorflow-text
                try:
                    import tensorflow_text
                except ImportError:
                    raise UserInputError(
                        f"{path}: tokenizes inside with tensorflow-text ops ({', '.join(custom)}), whose kernels "
                        "come with `pip install tensorflow-text`; without TensorFlow use a file beside it that takes "
                        "token ids (model_int8.tflite, model.onnx): edgesuite tokenizes for those in plain Python"
                    ) from None

                self.interpreter = InterpreterWithCustomOps(
                    custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
                    model_path=str(self.path),
                    num_threads=threads,
                )
            else:
                self.interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise UserInputError(f"{path}: not a loadable .tflite model ({str(exc).strip()})") from None
        self.input = self.interpreter.get_input_details()[0]
        self.input_count = len(self.interpreter.get_input_details())
        if self.input_count > 1:  # by name through the signature runner, which resizes the inputs itself
            self.runner = self.interpreter.get_signature_runner()
            self.input_names = list(self.runner.get_input_details())
        self.output = self._main_output()
        self.batch = int(self.input["shape"][0])
        self.input_dtype = (
            "string" if self.input["dtype"] in (np.bytes_, np.object_) else np.dtype(self.input["dtype"]).name
        )

    def _main_output(self) -> dict:
        """The model's output by its signature name, when a serving graph added others (a class map)."""
        details = self.interpreter.get_output_details()
        if len(details) == 1:
            return details[0]
        outputs = self.interpreter._get_full_signature_list().get("serving_default", {}).get("outputs", {})
        index = outputs[main_output(outputs)] if outputs else details[0]["index"]
        return next(d for d in details if d["index"] == index)

    @property
    def output_step(self) -> float:
        return float(self.output["quantization"][0] or 0.0)

    def run(self, x):
        if self.input_count > 1:
            outputs = self.runner(**{n: np.asarray(a) for n, a in zip(self.input_names, x)})
            details = self.runner.get_output_details()
            name = main_output(outputs)
            out, (scale, zero) = outputs[name], details[name]["quantization"]
            return (out.astype(np.float32) - zero) * scale if scale else out.astype(np.float32)
        it = self.interpreter
        if len(x) != self.batch:
            it.resize_tensor_input(self.input["index"], [len(x), *self.input["shape"][1:]])
            it.allocate_tensors()
            self.input, self.output = it.get_input_details()[0], self._main_output()
            self.batch = len(x)
        if self.input_dtype == "string":
            x = np.array([t.encode("utf-8") if isinstance(t, str) else t for t in x], dtype=object)
        else:
            x = x.astype(self.input["dtype"])
        it.set_tensor(self.input["index"], x)
        it.invoke()
        out = it.get_tensor(self.output["index"])
        scale, zero = self.output["quantization"]
        if scale:
            return (out.astype(np.float32) - zero) * scale
        return out.astype(np.float32)


class OnnxRuntime(Runtime):
    kind = "onnx"

    def __init__(self, path, threads=None, safe_mode=True):
        super().__init__(path)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise UserInputError(f"{path}: not a loadable ONNX model ({exc.__class__.__name__})") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_name, self.input_count = self.input_names[0], len(self.input_names)
        self.input_dtype = self.session.get_inputs()[0].type[len("tensor(") : -1]  # tensor(int32) -> int32
        self.output_name = main_output([o.name for o in self.session.get_outputs()])

    def run(self, x):
        feed = dict(zip(self.input_names, x)) if self.input_count > 1 else {self.input_name: x}
        return np.asarray(self.session.run([self.output_name], feed)[0], dtype=np.float32)


class CoreMLRuntime(Runtime):
    kind = "coreml"

    def __init__(self, path, threads=None, safe_mode=True):
        super().__init__(path)
        from edgesuite.export.coreml import can_predict

        if not can_predict():
            raise UserInputError(f"{path}: Core ML models run only on macOS (coremltools cannot predict here)")
        import coremltools as ct

        self.model = ct.models.MLModel(str(self.path))
        self.metadata = read_metadata(self.path)
        spec = self.metadata.get("model_input", self.metadata["input"])
        self.specs = spec if isinstance(spec, list) else [spec]
        self.input_dtype, self.input_count = self.specs[0]["dtype"], len(self.specs)
        self.fixed_length = self.metadata.get("max_length")

    def run(self, x):
        if self.input_count > 1:  # one example at a time (fixed batch of 1)
            names = [s["name"] for s in self.specs]
            rows = [
                np.asarray(
                    next(
                        iter(self.model.predict({n: a[i : i + 1].astype(np.int32) for n, a in zip(names, x)}).values())
                    )
                )[0]
                for i in range(len(x[0]))
            ]
            return np.asarray(rows, dtype=np.float32)
        spec = self.specs[0]
        name = spec["name"]
        if self.metadata.get("kind") == "detector":
            raise UserInputError(
                f"{self.path}: the detector's Core ML file is a Vision pipeline (NMS inside): run it "
                "with VNCoreMLRequest; edgesuite runs the .tflite or .onnx beside it"
            )
        rows = []
        for image in x:
            if spec["dtype"] == "uint8":  # an image input (ct.ImageType) takes a picture
                from PIL import Image

                image = np.asarray(image, np.uint8)
                feed = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
            else:
                feed = np.asarray(image, spec["dtype"])[None]
            out = self.model.predict({name: feed})
            if self.metadata.get("kind") == "classifier":  # a dict of label -> probability
                probs = next(v for v in out.values() if isinstance(v, dict))
                rows.append([probs[c] for c in self.metadata["class_names"]])
            else:
                rows.append(np.asarray(out[main_output(out)])[0])
        return np.asarray(rows, dtype=np.float32)


def run_inputs(codec, runtime: Runtime, inputs, metadata: dict, **options) -> np.ndarray:
    """What a user holds -> a format's raw outputs, through the app's numpy codec: its decoding loop
    around the model (``codec.run``: translation, ``options`` such as ``beam_size``), else preprocess + run.
    Raises ValueError for inputs (or options) the codec refuses."""
    if hasattr(codec, "run"):
        return codec.run(runtime, inputs, metadata, **options)
    if options:
        raise ValueError(f"{', '.join(options)}: not an option of a {metadata.get('task')} model")
    return runtime.run_batched(codec.preprocess(inputs, metadata, runtime.input_dtype))


MODEL_OUTPUTS = ("probabilities", "predictions")  # the model's own output, where a serving graph added others


def main_output(names) -> str:
    """Of a serving graph's output names, the model's own (parity and ``postprocess`` read it)."""
    names = sorted(names)
    return next((n for n in MODEL_OUTPUTS if n in names), names[0])


RUNTIMES = {c.kind: c for c in (KerasRuntime, SavedModelRuntime, TFLiteRuntime, OnnxRuntime, CoreMLRuntime)}


def open_runtime(path, threads: int | None = None, safe_mode: bool = True) -> Runtime:
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path}: no such model file")
    return RUNTIMES[runtime_for(path)](path, threads=threads, safe_mode=safe_mode)


METADATA_REMEDY = (
    "export the run again (edgesuite export RUN) to write it, or put back the metadata.json that came with this file"
)
IDENTITY_KEYS = ("task", "kind", "class_names", "input", "model_input", "outputs")  # what says which model it is


def read_metadata(path) -> dict:
    """The sidecar ``metadata.json`` beside the file, else what the file itself carries. Either is checked
    for the keys every model's metadata holds (and those of its kind); a sidecar that disagrees with the
    metadata inside the file (another task's, another run's) is refused: the file's own is right."""
    path = Path(path)
    sidecar = path.parent / "metadata.json"
    kind = runtime_for(path)
    if sidecar.exists():
        found = _read_sidecar(sidecar)
        try:
            inside = _embedded_metadata(path, kind) if kind in ("tflite", "onnx", "keras", "savedmodel") else None
        except Exception:  # an unreadable model file: its runtime says so
            inside = None
        differ = [k for k in IDENTITY_KEYS if isinstance(inside, dict) and inside.get(k) != found.get(k)]
        if differ:
            said = ", ".join(
                f"{k} {_short(found.get(k))} here, {_short(inside.get(k))} in the file" for k in differ[:2]
            )
            raise UserInputError(
                f"{sidecar}: describes another model than {path.name} ({said}); it belongs to "
                f"another export: {METADATA_REMEDY}"
            )
        return found
    try:
        found = _embedded_metadata(path, kind)
    except UserInputError:
        raise
    except Exception as exc:
        raise UserInputError(f"{path}: cannot read the model's metadata ({exc.__class__.__name__}: {exc})") from None
    if found is None:
        raise UserInputError(f"{path}: carries no edgesuite metadata and has no metadata.json beside it")
    problems = metadata_problems(found)
    if problems:
        raise UserInputError(f"{path}: the edgesuite metadata inside {problems[0]}; {METADATA_REMEDY}")
    return found


def _read_sidecar(sidecar: Path) -> dict:
    """metadata.json as a checked dict; cut short, random bytes, a list or missing keys name the file."""
    try:
        text = sidecar.read_text(encoding="utf-8")
        value = json.loads(text) if text.strip() else None
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{sidecar}: not a text file (byte {exc.start} is not UTF-8; damaged?); {METADATA_REMEDY}"
        ) from None
    except ValueError as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise UserInputError(
            f"{sidecar}: not valid JSON ({getattr(exc, 'msg', exc)}{where}; cut short?); {METADATA_REMEDY}"
        ) from None
    except OSError as exc:
        raise UserInputError(f"{sidecar}: cannot be read ({exc.strerror or exc}); {METADATA_REMEDY}") from None
    if not isinstance(value, dict):
        got = "nothing (empty)" if value is None else f"a {type(value).__name__}"
        raise UserInputError(f"{sidecar}: expected a JSON object of the model's metadata, got {got}; {METADATA_REMEDY}")
    problems = metadata_problems(value)
    if problems:
        raise UserInputError(f"{sidecar}: {problems[0]}; {METADATA_REMEDY}")
    return value


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_spec(spec) -> bool:
    return (
        isinstance(spec, dict)
        and isinstance(spec.get("name"), str)
        and isinstance(spec.get("shape"), list)
        and isinstance(spec.get("dtype"), str)
    )


# what a model of each kind decodes its outputs with (export/ writes these; the apps' codecs read them)
KIND_KEYS = {
    "classifier": {"class_names": "a list of class names"},
    "detector": {"class_names": "a list of class names", "postprocessing_params": "a mapping"},
    "segmenter": {"class_names": "a list of class names"},
    "translator": {"max_length": "an integer", "source_tokenizer": "a mapping", "target_tokenizer": "a mapping"},
}
_CHECKS = {
    "a list of class names": lambda v: isinstance(v, list) and v and all(isinstance(c, str) for c in v),
    "a mapping": lambda v: isinstance(v, dict),
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0,
}


def metadata_problems(meta: dict) -> list[str]:
    """What is missing or malformed in an edgesuite metadata dict; empty when it can be served."""
    if not isinstance(meta.get("task"), str) or not meta.get("task"):
        return ["has no 'task' (the task the model was trained for)"]
    if not _is_spec(meta.get("input")):
        return ["has no valid 'input' (name, shape and dtype of what the model takes)"]
    model_input = meta.get("model_input")
    if model_input is not None and not (
        _is_spec(model_input)
        or (isinstance(model_input, list) and model_input and all(_is_spec(s) for s in model_input))
    ):
        return ["has an invalid 'model_input' (name, shape and dtype of each model input)"]
    outputs = meta.get("outputs")
    if not (isinstance(outputs, list) and outputs and all(isinstance(o, str) for o in outputs)):
        return ["has no valid 'outputs' (the list of output names)"]
    needed = dict(KIND_KEYS.get(meta.get("kind"), {}))
    if meta.get("kind") == "classifier" and meta["input"]["dtype"] == "string":
        needed["tokenizer"] = "a mapping"  # a text classifier tokenizes in the codec
    for key, words in needed.items():
        if key not in meta:
            return [f"has no '{key}' ({words}), which a {meta['kind']} needs"]
        if not _CHECKS[words](meta[key]):
            return [f"'{key}' should be {words}, found {_short(meta[key])}"]
    return []


def _embedded_metadata(path: Path, kind: str) -> dict | None:
    """The edgesuite metadata a model file carries itself, or None."""
    if kind == "tflite":
        from edgesuite.export.files import read_tflite_metadata

        return read_tflite_metadata(path.read_bytes())
    if kind == "onnx":
        from edgesuite.export.files import read_onnx_metadata

        return read_onnx_metadata(path)
    if kind == "keras":
        from edgesuite.export.keras_files import read_metadata as ker

        return ker(path)
    if kind == "savedmodel":
        asset = path / "assets" / "edgesuite_metadata.json"
        return json.loads(asset.read_text()) if asset.exists() else None
    if kind == "coreml":
        import coremltools as ct

        raw = ct.models.MLModel(str(path), skip_model_load=True).user_defined_metadata.get("edgesuite_metadata")
        return json.loads(raw) if raw else None
    return None
