"""The Task contract every app implements, and the data it hands the driver.

``common/training.py`` drives any Task the same way; ``export/`` sees a model
only through these hooks. See ``DESIGN.md`` for the table of members.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataSplits:
    """What ``Task.load_data`` returns.

    ``train``/``val``/``test`` are batched ``tf.data`` pipelines of
    ``(inputs, targets)``; ``val`` and ``test`` are neither shuffled nor
    augmented. ``info`` is JSON-serialisable (class names, input shape, data
    name) and is saved as ``info.json`` in the run directory.
    """

    train: Any
    val: Any | None
    test: Any | None
    info: dict
    train_size: int
    class_counts: list[int] | None = None
    extras: dict = field(default_factory=dict)  # task-private things (e.g. raw arrays for plots)


class Task:
    """Base class: an app fills these in (see apps/image_classification/task.py)."""

    name: str = ""
    Config: type = object
    monitor: tuple[str, str] = ("val_loss", "min")  # what early stopping and best-checkpoint watch

    def load_data(self, cfg) -> DataSplits:
        raise NotImplementedError

    def load_eval_data(self, cfg, info: dict, data: str | None):
        """The held-out split of the run's data, or a user-given set mapped to ``info``'s labels."""
        raise NotImplementedError

    def build_model(self, cfg, info: dict):
        raise NotImplementedError

    def loss_and_metrics(self, cfg, info: dict) -> tuple[Any, list]:
        raise NotImplementedError

    def evaluate(self, model, ds, info: dict) -> dict:
        raise NotImplementedError

    # extra ``model.compile`` arguments (e.g. ``jit_compile``)
    def compile_options(self, cfg) -> dict:
        return {}

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list:
        return []

    codec = None  # the app's numpy-only postprocess module (preprocess, postprocess, save, annotate)

    def predict_files(self, model, info: dict, inputs: list[str], save_dir: str | None = None) -> list[dict]:
        """Files in, decoded results out, through the app's ``codec``; ``save_dir``: its per-input files."""
        import numpy as np

        from edgesuite.common.errors import UserInputError

        metadata = self.export_metadata(None, info)
        try:
            x = self.codec.preprocess(inputs, metadata)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
        results = self.codec.postprocess(np.asarray(model(x, training=False)), metadata)
        for item, r in zip(inputs, results):
            r["input"] = item
            if save_dir:
                r.update(self.codec.save(r, item, save_dir, metadata))
            elif hasattr(self.codec, "annotate"):
                self.codec.annotate(r, item)
        return results

    # export: the metadata every exported file carries (labels, input spec, normalisation, tokenizer)
    def export_metadata(self, cfg, info: dict) -> dict:
        raise NotImplementedError

    # export: calibration inputs (int8) and the parity inputs with the labels of the held-out ones that come
    # first (``common.data.parity_draw``), in one call so a task reads its data once
    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        raise NotImplementedError

    # export: a tf.Module from what a user holds to the model input (the tokenizer), run inside the
    # SavedModel and float TFLite signatures; None when the model takes the user's input as it is
    def export_preprocessor(self, cfg, info: dict):
        return None

    # export: outputs the serving graphs (SavedModel, TFLite, ONNX) add to the model's named outputs,
    # e.g. a uint8 class map or boxes after NMS; they must not change the model's own outputs, which
    # parity compares. ``metadata`` is the export metadata (thresholds, sizes).
    def serving_outputs(self, outputs: dict, metadata: dict) -> dict:
        return outputs

    # export: the task metric of a format's outputs on the held-out labels: (name, value)
    def parity_metric(self, outputs, labels, metadata: dict) -> tuple[str, float]:
        raise NotImplementedError

    # export: the share of a format's outputs that agree with the Keras model's; None: the top-1 class
    # agreement by counts, which the exporter judges with the output's quantization step
    def parity_agreement(self, reference, outputs, metadata: dict) -> float | None:
        return None

    # export: the graph the SavedModel and float TFLite serve when the model alone is not it (a tf.Module with
    # ``with_text`` for the SavedModel's serving_default and ``token_ids`` for TFLite, e.g. a decoding loop);
    # None: the model behind ``export_preprocessor``
    def export_serving(self, model, metadata: dict):
        return None

    # export: the Keras model's outputs on the held-out inputs, what every format is compared with
    def export_reference(self, model, x, metadata: dict):
        import numpy as np

        spec = metadata.get("model_input", metadata["input"])
        return np.asarray(model.predict(self.codec.preprocess(x, metadata, spec["dtype"]), batch_size=64, verbose=0),
                          dtype=np.float32)

    # export: the parity thresholds of a precision (None: verify.THRESHOLDS); parity_numeric False: the
    # outputs are not numbers to diff (decoded ids), so no max |diff| is reported
    parity_numeric = True

    def parity_limits(self, precision: str) -> dict | None:
        return None

    # export: more words for a format's report row (e.g. BLEU against the Keras output)
    def parity_details(self, reference, outputs, metadata: dict) -> str:
        return ""

    # export: formats this task cannot be written to, with the reason (the exporter says so)
    def unsupported_formats(self) -> dict[str, str]:
        return {}

    # transfer learning: the epoch at which unfreeze() is called (None: never)
    def fine_tune_epoch(self, cfg) -> int | None:
        return None

    def unfreeze(self, model) -> None:
        pass
