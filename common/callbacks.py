"""Keras callbacks of the training driver: the run recorder and resumable early stopping."""

from __future__ import annotations

import math
import os

import keras

from edgesuite.common.runs import RunDir, write_json


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the current learning rate to the epoch logs as ``lr`` (for history.csv and plots)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class RunRecorder(keras.callbacks.Callback):
    """Writes the epoch's checkpoint, best weights, history and resume state.

    Order per epoch: ``epoch-N.keras`` (temp + rename), ``best.weights.h5`` if
    the monitored value improved, ``history.csv``, then ``state.json`` — the
    commit point — and last the previous epoch's checkpoint is deleted.
    """

    def __init__(self, run: RunDir, state: dict, monitor: str, mode: str):
        super().__init__()
        self.run, self.state, self.monitor, self.mode = run, state, monitor, mode

    def _improved(self, value) -> bool:
        best = self.state.get("best")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        return best is None or (value > best if self.mode == "max" else value < best)

    def on_epoch_end(self, epoch, logs=None):
        from edgesuite.common.training import write_history_csv

        logs = {k: float(v) for k, v in (logs or {}).items()}
        ckdir = self.run.checkpoint_dir
        name = f"epoch-{epoch + 1}.keras"
        tmp = ckdir / f"epoch-{epoch + 1}.tmp.keras"
        self.model.save(tmp)
        os.replace(tmp, ckdir / name)
        value = logs.get(self.monitor, logs.get(self.monitor.removeprefix("val_")))
        if self._improved(value):
            self.state["best"] = value
            tmpw = ckdir / "best.tmp.weights.h5"
            self.model.save_weights(tmpw)
            os.replace(tmpw, ckdir / "best.weights.h5")
        self.state["history"].append({"epoch": epoch + 1, **logs})
        write_history_csv(self.run.history_path, self.state["history"])
        previous = self.state.get("checkpoint")
        self.state.update(epoch=epoch + 1, checkpoint=name)
        write_json(ckdir / "state.json", self.state)
        if previous and previous != name:
            (ckdir / previous).unlink(missing_ok=True)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose patience counter survives ``--resume`` (kept in state.json)."""

    def __init__(self, state: dict, **kwargs):
        super().__init__(**kwargs)
        self.state = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.state.get("best") is not None:
            self.best = self.state["best"]
        self.wait = self.state.get("wait", 0)

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        self.state["wait"] = self.wait
