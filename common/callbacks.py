"""Keras callbacks of the training driver: the run recorder, resumable early stopping, the time budget."""

from __future__ import annotations

import dataclasses
import math
import os

import keras

from edgesuite.common.log import say
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


class TimeBudget(keras.callbacks.Callback):
    """``--time-budget``: no epoch starts that would not end within the budget, and a cosine schedule
    decays over the epochs that fit, so a run ends at its lowest learning rate wherever the budget falls.

    The clock is the driver's time on the run, ``clock() - started``: the driver moves ``started`` back by
    what earlier processes spent (``state["seconds"]``), so a resumed run does not get the budget anew.
    At each epoch's end the plan becomes as many epochs as fit at the mean length of the epochs after the
    first (the first carries tracing), at most ``--epochs``; ``cosine``, ``warmup_cosine`` and ``step`` are
    rebuilt over the planned epochs and set before every step (the optimizer holds a plain rate for it), other
    schedules keep their shape. The mean keeps the plan steady through a slow spell on the host (seen: epochs
    of 37-44 s and 76-85 s in one run; planning on the longer of the last and the mean swung the plan between
    14 and 19 epochs, and the rate with it). Whether the next epoch starts is judged on the longer of the
    last epoch and the mean, so a slow spell at the end does not carry a run past its budget.
    ``stopped_epoch`` is set like EarlyStopping's.
    """

    STRETCHED = ("cosine", "warmup_cosine", "step")  # shaped by the total steps; the per-epoch decays are not

    def __init__(
        self, cfg, state: dict, steps_per_epoch: int, started: float, lr_scale: float = 1.0, log=say, clock=None
    ):
        super().__init__()
        import time

        self.cfg, self.state, self.steps_per_epoch = cfg, state, steps_per_epoch
        self.budget, self.lr_scale, self.log = cfg.time_budget * 60.0, lr_scale, log
        self.clock = clock or time.monotonic
        self.started = started
        self.durations: list[float] = []
        self.stopped_epoch, self.planned, self.schedule = 0, None, None

    def _elapsed(self) -> float:
        return self.clock() - self.started

    def _estimate(self) -> float | None:
        """Mean seconds of an epoch after the first (the first alone while it is the only one)."""
        d = self.durations
        if not d:
            return self.state.get("epoch_seconds")  # timed by an earlier process of this run
        return sum(d[1:]) / len(d[1:]) if len(d) > 1 else d[0]

    def _plan(self, done: int) -> None:
        from edgesuite.common.training import build_schedule

        estimate = self._estimate()
        planned = self.cfg.epochs
        if estimate:
            planned = min(self.cfg.epochs, done + max(0, int((self.budget - self._elapsed()) // estimate)))
        if planned != self.planned and self.cfg.schedule in self.STRETCHED:
            cfg = dataclasses.replace(self.cfg, lr=self.cfg.lr * self.lr_scale, epochs=max(planned, 1))
            self.schedule = build_schedule(cfg, self.steps_per_epoch)
            if self.planned is not None and planned > done:  # (a plan that ends here is logged as the stop)
                self.log(
                    f"time budget: {self._elapsed() / 60:.1f} of {self.cfg.time_budget:g} min spent, "
                    f"~{estimate:.0f}s an epoch: the schedule now ends after epoch {planned}"
                )
        self.planned = planned

    def on_train_begin(self, logs=None):
        self.mark = self.clock()
        self._plan(self.state.get("epoch", 0))

    def on_train_batch_begin(self, batch, logs=None):
        if self.schedule is not None:
            step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            self.model.optimizer.learning_rate = float(keras.ops.convert_to_numpy(self.schedule(step)))

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        self.durations.append(now - self.mark)
        self.mark = now
        self.state["seconds"] = self._elapsed()
        self.state["epoch_seconds"] = self._estimate()
        self._plan(epoch + 1)
        cautious = max(self.durations[-1], self._estimate())
        if epoch + 1 < self.cfg.epochs and (self.planned <= epoch + 1 or self._elapsed() + cautious > self.budget):
            self.model.stop_training = True
            self.stopped_epoch = epoch + 1
            self.log(
                f"time budget: {self._elapsed() / 60:.1f} of {self.cfg.time_budget:g} min spent after epoch "
                f"{epoch + 1}; another (~{cautious:.0f}s) would not fit, so training ends here"
            )
