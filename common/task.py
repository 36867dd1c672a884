"""The contract every app implements: a training ``Task`` and a ``Serving`` description.

``common/training.py`` drives any ``Task`` the same way (data, model, loss and metrics,
evaluate, plots). What export and ``edgesuite.load`` need of an app (the metadata every file
carries, the serving graph, the parity rules, the numpy codec) is the app's ``Serving``,
reached as ``task.serving``. ``apps/__init__.py`` maps a task name to both. See ``docs/architecture.md``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar


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


class Serving(abc.ABC):
    """What an exported file of one app carries and how it is checked (see apps/*/serving.py).

    Every hook the exporter (``export/exporter.py``) and ``edgesuite.load`` call is declared here.
    """

    name: ClassVar[str] = ""  # the task name the metadata carries
    codec: ClassVar[Any] = None  # the app's numpy-only postprocess module (preprocess, postprocess, describe, ...)
    # False: the outputs are not numbers to diff (decoded ids), so no max |diff| is reported
    parity_numeric: ClassVar[bool] = True

    @abc.abstractmethod
    def metadata(self, info: dict) -> dict:
        """What every exported file carries: task, labels, input spec, normalisation, tokenizer."""

    @abc.abstractmethod
    def export_data(self, cfg, info: dict, calibration: int, samples: int):
        """``(calibration inputs for int8, (parity inputs, labels of the held-out ones that come first))``
        (``common.data.parity_draw``), in one call so an app reads its data once."""

    @abc.abstractmethod
    def parity_metric(self, outputs, labels, metadata: dict) -> tuple[str, float]:
        """The task metric of a format's outputs on the held-out labels: ``(name, value)``."""

    def preprocessor(self, info: dict):
        """A tf.Module from what a user holds to the model input (the tokenizer), run inside the SavedModel
        and float TFLite signatures; None when the model takes the user's input as it is."""
        return None

    def serving_outputs(self, outputs: dict, metadata: dict) -> dict:
        """Outputs the serving graphs (SavedModel, TFLite, ONNX) add to the model's named outputs, e.g. a
        uint8 class map or boxes after NMS; the model's own outputs, which parity compares, stay as they are."""
        return outputs

    def coreml_outputs(self, outputs: dict, metadata: dict) -> dict:
        """The Core ML file's outputs, from the model's named outputs for one image (batch 1), in the form
        Xcode and Vision read: a segmenter's class map; a detector's ``confidence`` (boxes, classes) and
        ``coordinates`` (boxes, 4: centre x, centre y, width, height as shares of the side), which the exporter
        feeds to a Core ML NonMaximumSuppression model in a pipeline. Default: the outputs as they are."""
        return outputs

    def mediapipe_graph(self, model, metadata: dict):
        """For an app whose plain ``.tflite`` a MediaPipe Task cannot take as it is (other outputs or inputs than
        the Task reads), the graph of ``model_mediapipe*.tflite``: an object with ``signature`` (tf.TensorSpecs),
        ``fn`` (those inputs -> the Task's outputs, a tuple in its order) and ``representative(samples)`` (the
        int8 calibration samples in those inputs), and optionally ``float_scope``: the TF name scope of the ops a
        full-integer file keeps in float (a detector's box decoding and NMS). ``model`` is the model to wrap
        (float or numeric input).
        None: no such file (the plain ``.tflite`` runs in MediaPipe, or no Task covers the app)."""
        return None

    def serving_module(self, model, metadata: dict):
        """The graph the SavedModel and float TFLite serve when the model alone is not it (a tf.Module with
        ``with_text`` and ``token_ids``, e.g. a decoding loop); None: the model behind ``preprocessor``."""
        return None

    def reference(self, model, x, metadata: dict):
        """The Keras model's outputs on the parity inputs, what every format is compared with."""
        import numpy as np

        spec = metadata.get("model_input", metadata["input"])
        return np.asarray(
            model.predict(self.codec.preprocess(x, metadata, spec["dtype"]), batch_size=64, verbose=0), dtype=np.float32
        )

    def parity_agreement(self, reference, outputs, metadata: dict, step: float = 0.0) -> float | dict | None:
        """The share of a format's outputs that agree with the Keras model's, or its counts as
        ``verify.top1_agreement`` gives them (items the output's quantization ``step`` cannot settle set aside);
        None: the top-1 class agreement by counts, which the exporter judges with that step."""
        return None

    def parity_limits(self, precision: str) -> dict | None:
        """The parity thresholds of a precision (None: ``verify.THRESHOLDS``)."""
        return None

    def parity_details(self, reference, outputs, metadata: dict) -> str:
        """More words for a format's report row (e.g. BLEU against the Keras output)."""
        return ""


class Task(abc.ABC):
    """Training: what ``common/training.py`` calls (see apps/image_classification/task.py)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type] = object
    serving: ClassVar[Serving]  # the app's export and prediction side
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")  # what early stopping and best-checkpoint watch
    # the knobs this app lets the data decide: knob -> the value that means "from the data". ``load_data`` puts
    # what it chose in ``info`` under the knob's name, and the driver writes it into the run's config, so that
    # config.yaml holds the recipe the run really had
    from_data: ClassVar[dict[str, Any]] = {}

    @abc.abstractmethod
    def load_data(self, cfg) -> DataSplits:
        """Validated splits and ``info`` (bad input named with file and line before training starts)."""

    @abc.abstractmethod
    def load_eval_data(self, cfg, info: dict, data: str | None):
        """The held-out split of the run's data, or a user-given set mapped to ``info``'s labels."""

    @abc.abstractmethod
    def build_model(self, cfg, info: dict):
        """A ``keras.Model`` whose serving input is what a user holds (uint8 images, token ids)."""

    def final_model(self, model, cfg, info: dict):
        """The model a run saves, evaluates and exports, made from the trained ``model`` with the same weights
        (and any frozen constants after them): e.g. a test-time average in the graph. Training, checkpoints
        and validation use ``model``; anything rebuilding a saved run from its weights builds
        ``final_model(build_model(...))``."""
        return model

    @abc.abstractmethod
    def loss_and_metrics(self, cfg, info: dict) -> tuple[Any, list]:
        """What ``compile`` gets."""

    @abc.abstractmethod
    def evaluate(self, model, ds, info: dict) -> dict:
        """The task's metrics on ``ds`` (what ``load_eval_data`` or ``load_data().test`` gave), JSON-ready;
        ``plots`` reads what it needs of them, ``ds`` is left as it was."""

    def compile_options(self, cfg) -> dict:
        """Extra ``model.compile`` arguments (e.g. ``jit_compile``)."""
        return {}

    def plots(self, run, model, data: DataSplits, metrics: dict) -> list:
        """The PNGs (and tables) a person looks at after training."""
        return []

    def fine_tune_epoch(self, cfg) -> int | None:
        """Transfer learning: the epoch at which ``unfreeze`` is called (None: never)."""
        return None

    def unfreeze(self, model) -> None:
        pass

    def teacher_problem(self, teacher_info: dict, info: dict) -> str | None:
        """Distillation (``--teacher``, classifiers): why a teacher run's model cannot read the student's
        inputs through :meth:`teacher_input`, or None. Classes and splits are checked before this."""
        return None

    def teacher_input(self, x, teacher_info: dict, info: dict):
        """A batch of the student's training inputs as the teacher's model takes them (graph ops)."""
        return x

    def initial_weights(self, model, data: DataSplits) -> None:
        """Sets weights fitted before training starts (e.g. a convex solver's optimum for a linear model); the
        default leaves the layers' initializers. Called once for a new run, not on resume."""

    def model_candidates(self, cfg) -> tuple[str, ...]:
        """``--model auto``: the architectures to train, cheapest first; the best by ``monitor`` on the
        validation split is kept (``common/select.py``). Empty: no candidates (a task whose ``--model auto``
        picks from the data resolves it in ``load_data``)."""
        return ()

    def epoch_callbacks(self, cfg, data: DataSplits) -> list:
        """Keras callbacks that add the task's own validation metrics to each epoch's logs (e.g. a detector's
        mAP), run before early stopping and the best-checkpoint recorder so that ``monitor`` may name them."""
        return []
