"""What every writer gets: the float32 model, its metadata, calibration data, a staging SavedModel.

Two inputs may exist. ``metadata["input"]`` is what a user holds and what the
SavedModel and the float TFLite files take (images; raw strings for text).
``metadata["model_input"]``, where present, is what the Keras model itself
takes (token ids): the task's ``Serving.preprocessor`` (a ``tf.Module``, e.g. the
tokenizer) maps one to the other inside the string formats, and the formats
that cannot hold it (``.keras``/``.h5``, ONNX, Core ML, int8 TFLite) take the
model input, the preprocessing travelling in the metadata.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
from keras import ops


class BoundedMaskAttention(keras.layers.MultiHeadAttention):
    """``MultiHeadAttention`` that sets masked scores 30 below the row's lowest score, not to -1e9.

    The same attention in float (a masked key's weight is under e^-30 of the
    largest), but a range that int8 can hold: with Keras's -1e9 the full-integer
    TFLite scale of every attention-score tensor was 3.9e6, each real score
    quantised to 0, attention became uniform, and a translator's int8 file
    translated nothing (BLEU 0.4). Always the explicit-scores path: the fused
    ``dot_product_attention`` (taken when dropout is 0) masks with -1e9 again.
    Only the int8 / Core ML conversion graphs use it; saved models keep the
    Keras layer.
    """

    GAP = 30.0

    def _masked_softmax(self, attention_scores, attention_mask=None):
        if attention_mask is None:
            return self._softmax(attention_scores)
        for _ in range(len(attention_scores.shape) - len(attention_mask.shape)):  # broadcast as the parent does
            attention_mask = ops.expand_dims(attention_mask, axis=-len(self._attention_axes) * 2 - 1)
        floor = ops.stop_gradient(ops.min(attention_scores, axis=-1, keepdims=True)) - self.GAP
        return self._softmax(ops.where(ops.cast(attention_mask, "bool"), attention_scores, floor))

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        out, scores = super()._compute_attention(query, key, value, attention_mask, training, True, use_causal_mask)
        return out, (scores if return_attention_scores else None)


@dataclass
class ExportContext:
    model: object  # keras.Model rebuilt under the float32 policy
    metadata: dict
    out_dir: Path
    representative: object  # int8 calibration inputs from the training split: an array (uint8 images, token
    # ids), or a tuple of arrays for a model of several inputs
    preprocessor: object | None = None  # tf.Module from metadata["input"] to the model input (None: same)
    serving_outputs: object | None = None  # Serving.serving_outputs: adds outputs (a class map) to the serving graphs
    serving_module: object | None = (
        None  # Serving.serving_module: a tf.Module the SavedModel / float TFLite serve instead
    )
    coreml_outputs: object | None = None  # Serving.coreml_outputs: the Core ML file's outputs for Xcode / Vision
    mediapipe_graph: object | None = None  # Serving.mediapipe_graph: model -> the graph of model_mediapipe*.tflite
    _savedmodel: Path | None = field(default=None, repr=False)
    _float_savedmodel: Path | None = field(default=None, repr=False)
    _onnx: bytes | None = field(default=None, repr=False)
    _tmp: Path | None = field(default=None, repr=False)

    @property
    def model_inputs(self) -> list[dict]:
        """The Keras model's inputs (one for most tasks; source and target ids for a translator)."""
        spec = self.metadata.get("model_input", self.metadata["input"])
        return list(spec) if isinstance(spec, list) else [spec]

    @property
    def model_input(self) -> dict:
        return self.model_inputs[0]

    @property
    def input_shape(self) -> list[int]:
        return list(self.model_input["shape"])

    @property
    def input_name(self) -> str:
        return self.model_input["name"]

    def input_signature(self, batch: int | None = None, dtype: str | None = None, fixed_length: int | None = None):
        """The Keras model's inputs (token ids for text, images otherwise); ``fixed_length`` fills unknown lengths."""
        import tensorflow as tf

        return [
            tf.TensorSpec(
                [batch, *[fixed_length if d is None else d for d in spec["shape"]]],
                dtype or spec["dtype"],
                name=spec["name"],
            )
            for spec in self.model_inputs
        ]

    def user_input_signature(self, batch: int | None = None):
        """What the SavedModel and float TFLite take: the model input, or the preprocessor's (raw strings)."""
        import tensorflow as tf

        spec = self.metadata["input"]
        return [tf.TensorSpec([batch, *spec["shape"]], spec["dtype"], name=spec["name"])]

    def serving_fn(self, dtype: str | None = None, batch: int | None = None):
        """A tf.function from the user's input to a dict of named outputs (inference mode)."""
        import tensorflow as tf

        model, names, extra = self.model, self.metadata["outputs"], self.serving_outputs

        @tf.function(input_signature=self.input_signature(batch, dtype))
        def serve(*x):
            return named_outputs(model, names, x[0] if len(x) == 1 else list(x), extra)

        return serve

    def _staging(self, name: str) -> Path:
        """A hidden folder in the export folder, not the system temp folder: ``close`` removes it on any exit
        (the exporter turns SIGTERM into KeyboardInterrupt), and one a SIGKILL left behind is where the next
        export into that folder finds and removes it (``remove_stale_staging``)."""
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=self.out_dir))
        return self._tmp / name

    def savedmodel_dir(self) -> Path:
        """The SavedModel that TFLite and ONNX convert from; written once, to a staging folder if not asked for."""
        if self._savedmodel is None:
            from edgesuite.export import savedmodel

            path = self._staging("savedmodel")
            savedmodel.write(self, None, path)
            self._savedmodel = path
        return self._savedmodel

    def numeric_input_model(self):
        """The model int8 TFLite and Core ML convert from.

        Images: the same model over a float32 input of the same shape (values
        0..255): Core ML refuses uint8 inputs; the int8 TFLite converter, given a
        float input, quantises it straight to uint8 (scale 1) and folds the /255
        into the first quantised op instead of running CAST then QUANTIZE on
        every call. Token ids (int32) stay as they are. Attention layers become
        ``BoundedMaskAttention`` (same weights, same float outputs), whose masked
        scores int8 can hold.
        """
        import keras

        image = self.model_input["dtype"] == "uint8" and len(self.model_inputs) == 1
        attention = any(type(layer) is keras.layers.MultiHeadAttention for layer in self.model._flatten_layers())
        if not (image or attention):
            return self.model
        float_input = keras.Input(shape=self.input_shape, dtype="float32", name=self.input_name) if image else None

        def clone_layer(layer):
            cls = BoundedMaskAttention if type(layer) is keras.layers.MultiHeadAttention else layer.__class__
            return cls.from_config(layer.get_config())

        clone = keras.models.clone_model(
            self.model, input_tensors=float_input, recursive=True, clone_function=clone_layer if attention else None
        )
        clone.set_weights(self.model.get_weights())
        return clone

    @property
    def numeric_input_dtype(self) -> str | None:
        """float32 for an image model (values 0..255); None: each input keeps its own dtype (token ids)."""
        return "float32" if self.model_input["dtype"] == "uint8" else None

    def numeric_input_savedmodel_dir(self) -> Path:
        if self._float_savedmodel is None:
            from edgesuite.export import savedmodel

            path = self._staging("savedmodel-numeric-input")
            savedmodel.write_model(
                self.numeric_input_model(),
                self.metadata,
                self.input_signature(dtype=self.numeric_input_dtype),
                path,
                serving_outputs=self.serving_outputs,
            )
            self._float_savedmodel = path
        return self._float_savedmodel

    def onnx_bytes(self) -> bytes:
        """The serialized ONNX model that model.onnx and web/model.onnx hold; converted once."""
        if self._onnx is None:
            from edgesuite.export import onnx_format

            self._onnx = onnx_format.convert(self)
        return self._onnx

    def use_savedmodel(self, path: Path) -> None:
        self._savedmodel = path

    def close(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


STAGING_PREFIX = ".edgesuite-staging-"  # + pid + "-": the staging SavedModels of one export process


def remove_stale_staging(out_dir: Path) -> None:
    """Removes the staging folders of exports into ``out_dir`` whose process is gone (killed outright)."""
    from edgesuite.common.runs import process_alive

    for path in Path(out_dir).glob(f"{STAGING_PREFIX}*"):
        m = re.match(rf"{re.escape(STAGING_PREFIX)}(\d+)-", path.name)
        if m and not process_alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)


def named_outputs(model, names: list[str], x, serving_outputs=None) -> dict:
    """The model in inference mode, its outputs keyed by the metadata's output names (plus the task's extras)."""
    out = model(x, training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    named = dict(zip(names, out))
    return serving_outputs(named) if serving_outputs is not None else named


def replace_atomically(tmp: Path, final: Path) -> None:
    """Moves a finished file or folder onto its final name (nothing half-written is ever there)."""
    import os

    if final.is_dir() and not final.is_symlink():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def staging_path(final: Path) -> Path:
    """A temporary sibling of ``final`` that keeps its suffix (converters look at it)."""
    return final.with_name(f".{final.stem}.partial{final.suffix}")
