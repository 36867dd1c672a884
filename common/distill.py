"""Knowledge distillation: a student learns from the labels and from the softened outputs of teacher runs.

``--teacher RUN_DIR [RUN_DIR ...]`` names finished runs of the same task on the same data (the same splits,
so no teacher has seen the student's validation or test examples). Their class probabilities, softened by
``--temperature`` and averaged (an ensemble of several runs becomes one file a device can hold), are computed
on each training batch as the student sees it (after augmentation) and travel in the targets beside the
one-hot labels: ``[labels | teacher probabilities]``. :class:`DistillationLoss` splits them again:

    (1 - alpha) x cross-entropy(labels, student) + alpha x T^2 x KL(teacher_T || student_T)

(Hinton et al., 2015; the T^2 keeps the soft term's gradients at the scale of the hard one). Validation
batches carry labels only, so the validation loss and metrics are the plain ones. The saved model is the
student alone, compiled with the plain loss, so its ``.keras`` file loads without edgesuite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras

from edgesuite.common.config import teacher_runs
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.common.runs import resolve_run

# the knobs that make the splits (with the data seed): a teacher trained on other splits has seen the student's
# held-out examples
SPLIT_KNOBS = ("data", "val_fraction", "test_fraction")
EPS = 1e-7


@dataclass
class Teacher:
    path: Path
    model: object
    info: dict


def load_teachers(task, cfg, info: dict, log=say) -> list[Teacher]:
    """The finished runs ``cfg.teacher`` names, each checked against the student's task, classes and splits;
    a problem is a UserInputError naming the run and what differs."""
    teachers = []
    for given in teacher_runs(cfg):
        run = resolve_run(given.strip())
        where = f"teacher {run.path}"
        if run.task != task.name:
            raise UserInputError(f"{where}: is a {run.task} run, not {task.name}")
        if not run.model_path.exists():
            raise UserInputError(
                f"{where}: has no model.keras (status: {run.describe_status()}); a teacher must be a finished run"
            )
        saved, theirs = run.read_config_dict(), run.read_info()
        for knob in SPLIT_KNOBS:
            if knob in saved and saved[knob] != getattr(cfg, knob):
                raise UserInputError(
                    f"{where}: was trained with {knob} {saved[knob]!r}, the student has "
                    f"{getattr(cfg, knob)!r}; a teacher must be trained on the same splits, or it "
                    "has seen the student's validation and test examples"
                )
        if saved and _data_seed(saved) != cfg.data_seed:
            raise UserInputError(
                f"{where}: its splits come from seed {_data_seed(saved)}, the student's from seed "
                f"{cfg.data_seed}; a teacher must be trained on the same splits, or it has seen the "
                "student's validation and test examples (runs that differ in --seed share the "
                "splits with --split-seed)"
            )
        if theirs.get("class_names") != info.get("class_names"):
            raise UserInputError(
                f"{where}: its classes {theirs.get('class_names')} are not the student's {info.get('class_names')}"
            )
        if problem := task.teacher_problem(theirs, info):
            raise UserInputError(f"{where}: {problem}")
        teachers.append(Teacher(run.path, keras.models.load_model(run.model_path, compile=False), theirs))
    log(f"distilling from {len(teachers)} teacher run(s): {', '.join(str(t.path) for t in teachers)}")
    return teachers


def _data_seed(saved: dict) -> int:
    """The split seed of a run's saved config (runs from before ``--split-seed`` have their ``seed``)."""
    split = saved.get("split_seed", -1)
    return split if split is not None and split >= 0 else saved.get("seed")


def soften(probs, temperature: float):
    """Class probabilities at temperature ``T``: softmax(log p / T)."""
    import tensorflow as tf

    probs = tf.cast(probs, tf.float32)
    if temperature == 1:
        return probs
    return tf.nn.softmax(tf.math.log(tf.maximum(probs, EPS)) / temperature, axis=-1)


def teacher_probs(task, teachers: list[Teacher], x, info: dict, temperature: float = 1.0):
    """The teachers' softened probabilities on the student's inputs ``x``, averaged."""
    import tensorflow as tf

    outs = [soften(t.model(task.teacher_input(x, t.info, info), training=False), temperature) for t in teachers]
    return tf.add_n(outs) / len(outs)


def with_teacher_targets(task, train, teachers: list[Teacher], info: dict, temperature: float):
    """The training batches with targets ``[labels | averaged teacher probabilities at T]``."""
    import tensorflow as tf

    if info.get("teacher_targets"):  # the app's load_data put them in once (a costly teacher runs once a text)
        return train

    def pack(x, y):
        return x, tf.concat([tf.cast(y, tf.float32), teacher_probs(task, teachers, x, info, temperature)], axis=-1)

    return train.map(pack, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def ensemble_metrics(task, teachers: list[Teacher], ds, info: dict) -> dict:
    """The teachers' averaged probabilities (T = 1) on ``ds`` scored as the student is (accuracy, macro F1)."""
    import numpy as np

    from edgesuite.common import metrics as cmetrics

    labels, probs = [], []
    for x, y in ds:
        probs.append(np.asarray(teacher_probs(task, teachers, x, info)))
        labels.append(np.argmax(np.asarray(y), axis=-1))
    scored = cmetrics.classification_metrics(np.concatenate(labels), np.concatenate(probs), info["class_names"])
    return {"runs": [str(t.path) for t in teachers], "accuracy": scored["accuracy"], "macro_f1": scored["macro_f1"]}


@keras.saving.register_keras_serializable("edgesuite")
class DistillationLoss(keras.losses.Loss):
    """The base loss on ``[labels | teacher probabilities]`` targets with the soft term added; on targets of
    labels only (validation) the base loss alone."""

    def __init__(self, base, classes: int, alpha: float = 0.5, temperature: float = 2.0, name="distillation", **kwargs):
        super().__init__(name=name, **kwargs)
        self.base = keras.losses.get(base) if isinstance(base, dict) else base
        self.classes, self.alpha, self.temperature = int(classes), float(alpha), float(temperature)

    def call(self, y_true, y_pred):
        from keras import ops

        k = self.classes
        if y_true.shape[-1] != 2 * k:
            return self.base.call(y_true, y_pred)
        labels, soft = y_true[..., :k], y_true[..., k:]
        hard = self.base.call(labels, y_pred)
        log_student = ops.log_softmax(ops.log(ops.maximum(ops.cast(y_pred, "float32"), EPS)) / self.temperature)
        kl = ops.sum(soft * (ops.log(ops.maximum(soft, EPS)) - log_student), axis=-1)
        return (1 - self.alpha) * hard + self.alpha * self.temperature**2 * kl

    def get_config(self):
        return {
            **super().get_config(),
            "base": keras.losses.serialize(self.base),
            "classes": self.classes,
            "alpha": self.alpha,
            "temperature": self.temperature,
        }


@keras.saving.register_keras_serializable("edgesuite")
class OnLabels(keras.metrics.Metric):
    """A metric of the labels part of ``[labels | teacher probabilities]`` targets, under the metric's name."""

    def __init__(self, metric, classes: int, name=None, dtype=None):
        metric = keras.metrics.get(metric) if isinstance(metric, dict) else metric
        super().__init__(name=name or metric.name, dtype=dtype or metric.dtype)
        self.metric, self.classes = metric, int(classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if y_true.shape[-1] == 2 * self.classes:
            y_true = y_true[..., : self.classes]
        return self.metric.update_state(y_true, y_pred, sample_weight=sample_weight)

    def result(self):
        return self.metric.result()

    def reset_state(self):
        self.metric.reset_state()

    def get_config(self):
        return {"metric": keras.metrics.serialize(self.metric), "classes": self.classes, "name": self.name}


def wrap_loss_and_metrics(loss, metrics: list, cfg, classes: int):
    return (
        DistillationLoss(loss, classes, cfg.distill_alpha, cfg.temperature),
        [OnLabels(m, classes) for m in metrics],
    )


__all__ = [
    "Teacher",
    "load_teachers",
    "with_teacher_targets",
    "ensemble_metrics",
    "DistillationLoss",
    "OnLabels",
    "wrap_loss_and_metrics",
]
