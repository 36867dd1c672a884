"""The one training driver every app uses.

config -> seeds -> precision policy -> data (validated before anything is
written) -> run directory -> strategy scope -> model -> optimizer and schedule
-> fit with callbacks -> best weights -> evaluate -> plots -> ``latest``.

Interrupted runs (Ctrl-C, a kill, a crash) resume with ``--resume RUN_DIR``
from the last completed epoch, optimizer state included, and finish with the
planned number of epochs: each epoch ends by writing ``checkpoints/epoch-N.keras``
and then ``checkpoints/state.json`` (the commit point: both written to a
temporary name and renamed), so at most the epoch in flight is lost.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from edgesuite.common import precision
from edgesuite.common.config import ClassWeighted, Pretrained, save_yaml, teacher_runs, with_absolute_paths
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.common.runs import (
    INFO_REMEDY,
    INFO_TYPES,
    RunDir,
    check_types,
    keras_archive_problem,
    read_json_dict,
    write_json,
)


def build_schedule(cfg, steps_per_epoch: int):
    import keras

    total = max(1, cfg.epochs * steps_per_epoch)
    s = cfg.schedule
    if s in ("constant", "plateau"):
        return cfg.lr
    if s == "exponential":
        return keras.optimizers.schedules.ExponentialDecay(
            cfg.lr, decay_steps=steps_per_epoch, decay_rate=cfg.decay_rate
        )
    if s == "inverse_time":
        return keras.optimizers.schedules.InverseTimeDecay(
            cfg.lr, decay_steps=steps_per_epoch, decay_rate=cfg.decay_rate
        )
    if s == "step":
        from edgesuite.common.config import step_shares

        shares = step_shares(cfg.step_at)
        boundaries = sorted({max(1, int(round(v * total))) for v in shares})
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            boundaries, [cfg.lr * cfg.step_factor**k for k in range(len(boundaries) + 1)]
        )
    if s == "cosine":
        return keras.optimizers.schedules.CosineDecay(cfg.lr, decay_steps=total, alpha=0.01)
    if s == "warmup_cosine":
        warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total - 1)
        return keras.optimizers.schedules.CosineDecay(
            cfg.lr / 100, decay_steps=max(1, total - warmup), alpha=0.01, warmup_target=cfg.lr, warmup_steps=warmup
        )
    raise UserInputError(f"schedule: unknown '{s}'")


def build_optimizer(cfg, steps_per_epoch: int, lr_scale: float = 1.0):
    import keras

    from edgesuite.common.callbacks import TimeBudget

    lr = build_schedule(dataclasses.replace(cfg, lr=cfg.lr * lr_scale), steps_per_epoch)
    if cfg.time_budget and cfg.schedule in TimeBudget.STRETCHED:
        lr = float(lr(0))  # a plain rate: the TimeBudget callback sets it each step from the stretched schedule
    common = {"learning_rate": lr, "weight_decay": cfg.weight_decay or None}
    if cfg.clipnorm:
        common["global_clipnorm"] = cfg.clipnorm
    if cfg.grad_accum_steps > 1:
        common["gradient_accumulation_steps"] = cfg.grad_accum_steps
    if cfg.ema:
        common.update(use_ema=True, ema_momentum=cfg.ema)
    name = cfg.optimizer
    if name == "sgd":
        return keras.optimizers.SGD(momentum=cfg.momentum, nesterov=True, **common)
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "adamw":
        return keras.optimizers.AdamW(**{**common, "weight_decay": cfg.weight_decay})
    if name == "rmsprop":
        return keras.optimizers.RMSprop(momentum=cfg.momentum, **common)
    if name == "adagrad":
        return keras.optimizers.Adagrad(**common)
    raise UserInputError(f"optimizer: unknown '{name}'")


def apply_kernel_penalties(model, l1: float, l2: float) -> int:
    """Puts an L1/L2 penalty on every kernel; Keras adds it to the loss. Returns the count."""
    import keras

    if not (l1 or l2):
        return 0
    reg = keras.regularizers.L1L2(l1=l1, l2=l2)
    n = 0
    for layer in model._flatten_layers(include_self=False):
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and getattr(kernel, "trainable", False):
            kernel.regularizer = reg
            n += 1
    return n


def class_weights(counts: list[int] | None, mode: str) -> dict[int, float] | None:
    if mode != "balanced" or not counts:
        return None
    total, k = sum(counts), len(counts)
    return {i: total / (k * c) if c else 0.0 for i, c in enumerate(counts)}


def _callbacks(task, cfg, run: RunDir, state: dict, steps_per_epoch: int):
    import keras

    from edgesuite.common.callbacks import LearningRateLogger, ResumableEarlyStopping, RunRecorder

    monitor, mode = task.monitor
    cbs = [LearningRateLogger()]
    if cfg.schedule == "plateau":
        cbs.append(keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=2, verbose=1))
    if cfg.early_stopping:
        # before the recorder, so the patience counter it saves is this epoch's
        cbs.append(ResumableEarlyStopping(state, monitor=monitor, mode=mode, patience=cfg.early_stopping, verbose=1))
    cbs.append(RunRecorder(run, state, monitor, mode))
    cbs.append(keras.callbacks.TensorBoard(log_dir=str(run.path / "tensorboard"), write_graph=False, profile_batch=0))
    return cbs


def ema_warning(cfg, steps_per_epoch: int) -> str | None:
    """A warning when ``--ema`` is too slow for the run: Keras starts the average at the first step's weights
    and corrects no bias, so after ``n`` updates the starting weights still hold ``ema ** n`` of it (seen:
    ``--ema 0.999`` over 1,000 steps, 37 % of the initial weights, validation loss 28 instead of 1.8)."""
    steps = cfg.epochs * steps_per_epoch // max(1, cfg.grad_accum_steps)
    share = cfg.ema**steps if cfg.ema else 0.0
    if share <= 0.05:
        return None
    most = math.floor(0.05 ** (1 / max(1, steps)) * 1000) / 1000  # the momentum that leaves them 5 %, floored
    return (
        f"warning: --ema {cfg.ema:g} is slow for {steps} updates: the weights of the first step would still "
        f"hold {share:.0%} of the average at the end; use at most {most:g}"
    )


def _ema_callbacks(cfg, resumed: bool) -> list:
    """``--ema``: the averaged weights are in the model for validation and at each epoch's end, so the
    checkpoint, the best weights and early stopping all see them; training steps run on the raw weights.

    One callback per ``fit`` (a fine-tuning segment gets a fresh optimizer and average). An epoch
    checkpoint holds the average as the model's weights and the raw weights in the optimizer's slots,
    so a run resumed from it swaps them back before its first step.
    """
    import keras

    if not cfg.ema:
        return []
    swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True)
    swap._ema_weights_in_model = resumed  # Keras keeps this flag private; its on_epoch_begin swaps back when set
    return [swap]


def build_training_state(model, strategy=None, dataset=None) -> None:
    """Creates the optimizer's slots, and the compiled metrics' state from ``dataset``'s element spec, before
    ``fit``. Keras 3 on TensorFlow (no strategy given to ``compile``) creates them inside the first trace of the
    train step, and a ``tf.function`` that creates variables is traced twice: the first epoch paid the train
    step's tracing, the costliest part of a short run, two times over."""
    import contextlib

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        spec = getattr(dataset, "element_spec", None)
        metrics = getattr(model, "_compile_metrics", None)
        if spec is not None and metrics is not None and not metrics.built:
            model._symbolic_build(data_batch=spec)  # Keras' own build under a strategy: metrics, loss, optimizer
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)


def _compile(model, task, cfg, info, steps_per_epoch: int, lr_scale: float = 1.0, distilled: bool = True) -> None:
    loss, metrics = task.loss_and_metrics(cfg, info)
    if distilled and teacher_runs(cfg):  # targets are [labels | teacher probabilities]
        from edgesuite.common import distill

        loss, metrics = distill.wrap_loss_and_metrics(loss, metrics, cfg, len(info["class_names"]))
    model.compile(
        optimizer=build_optimizer(cfg, steps_per_epoch, lr_scale),
        loss=loss,
        metrics=metrics,
        **task.compile_options(cfg),
    )


def train(
    task, cfg, resume: str | os.PathLike | None = None, log=say, data=None, extra_callbacks: list | None = None
) -> RunDir:
    """Trains ``task`` under ``cfg`` and returns the completed run directory.

    ``data``: the ``DataSplits`` of ``task.load_data(cfg)`` when the caller has loaded them already (a
    per-app script that shows them first); None loads them here. ``extra_callbacks``: Keras callbacks run
    after the driver's (``edgesuite tune``'s pruning)."""
    import keras

    from edgesuite.common import distribute, select, stream

    cfg = with_absolute_paths(cfg)  # config.yaml names the data alike from any working folder
    if select.is_auto(task, cfg):  # one run per candidate architecture, the best kept
        return select.train_candidates(
            task, cfg, functools.partial(train, extra_callbacks=extra_callbacks), resume=resume, log=log, data=data
        )
    started = time.monotonic()  # --time-budget counts data loading too
    # the strategy first: logical devices and the multi-worker runtime must exist before any other TF op
    distribute.configure_devices(cfg.strategy, cfg.devices, log=log)
    strategy = distribute.make_strategy(cfg.strategy, cfg.devices, cfg.tpu, log=log)
    replicas = strategy.num_replicas_in_sync
    if cfg.batch_size % replicas:
        raise UserInputError(
            f"batch_size: the global batch {cfg.batch_size} must divide evenly over {replicas} replicas"
        )
    chief, multi = distribute.is_chief(strategy), distribute.is_multi_worker(strategy)
    if multi and cfg.time_budget:
        recipes = next(f.default for f in dataclasses.fields(cfg) if f.name == "time_budget")
        if cfg.time_budget != recipes:
            raise UserInputError(
                "time_budget: not available for multi-worker training (each worker would read "
                "its own clock and they could stop at different epochs); use --epochs"
            )
        # the recipe's own budget (detection, segmentation) gives way: the recipe's epochs
        log(
            f"time budget: the recipe's {recipes:g} min is off for multi-worker training (each worker would read "
            f"its own clock); {cfg.epochs} epochs (--epochs N sets them)"
        )
        cfg = dataclasses.replace(cfg, time_budget=0.0)
    if multi and not resume:
        resume = _unfinished_run(task, cfg, log)
    if not chief:  # a non-chief worker runs the same steps (saving is collective) into a folder that goes away
        distribute.remove_stale_scratch()
        scratch = tempfile.mkdtemp(prefix=f"{distribute.SCRATCH_PREFIX}{os.getpid()}-")
        cfg = dataclasses.replace(cfg, out=scratch)
        if resume:  # resume from a private copy of the chief's run: only the chief writes there
            copy = Path(scratch) / task.name / Path(resume).name
            # without the chief's claim (its status and lock): the copy is this worker's alone
            shutil.copytree(
                resume, copy, ignore=shutil.ignore_patterns("tensorboard", "*.tmp*", "status.json", RunDir.LOCK_NAME)
            )
            resume = copy
    if resume:  # refused now, before the data is read, when another process trains this run
        RunDir(Path(resume)).claim()
    try:
        if multi:
            _check_workers_agree(strategy, resume)
        keras.utils.set_random_seed(cfg.seed)
        with precision.scope(cfg.precision, log=log) as policy:  # the caller's policy is back when the run ends
            with stream.input_pipeline_scope(*distribute.input_pipeline_of(strategy)):  # streamed files: a share
                data = data if data is not None else task.load_data(cfg)  # validated before any run folder exists
                # knobs left to the data take what it gave: config.yaml holds the run's real recipe
                cfg = dataclasses.replace(
                    cfg,
                    **{
                        k: data.info[k]
                        for k, unset in task.from_data.items()
                        if getattr(cfg, k) == unset and k in data.info
                    },
                )
                cfg, data.train = fit_to_data(cfg, data.train, data.train_size, replicas, log)
                if teacher_runs(cfg):
                    from edgesuite.common import distill

                    teachers = distill.load_teachers(task, cfg, data.info, log)
                    cfg = dataclasses.replace(cfg, teacher=",".join(str(t.path) for t in teachers))  # absolute
                    data.train = distill.with_teacher_targets(task, data.train, teachers, data.info, cfg.temperature)
                    data.extras = {**(data.extras or {}), "teachers": teachers}
                data.train, data.val = distribute.shard_by_data(data.train), distribute.shard_by_data(data.val)
                steps_per_epoch = max(1, math.ceil(data.train_size / cfg.batch_size))
                log(
                    f"data: {data.train_size} training examples, {steps_per_epoch} steps per epoch of {cfg.batch_size}"
                    + (f" ({cfg.batch_size // replicas} per replica)" if replicas > 1 else "")
                )
                return _train(
                    task, cfg, data, strategy, policy, steps_per_epoch, resume, log, started, extra_callbacks or []
                )
    except Exception as exc:
        if multi and cfg.name and distribute.peer_lost(exc):
            if not chief:
                shutil.rmtree(cfg.out, ignore_errors=True)
            distribute.restart_worker(cfg.restarts, exc, log)  # returns only when no restart is left
        elif multi and distribute.peer_lost(exc):
            log("lost a peer worker; give every worker --name NAME so that a restarted cluster resumes the run")
        raise
    finally:
        if resume:
            RunDir(Path(resume)).release()
        if not chief:
            shutil.rmtree(cfg.out, ignore_errors=True)


SMALLEST_FITTED_BATCH = 8
BUDGET_EPOCHS = 200  # the most epochs a --time-budget may plan when --epochs is not given


def fit_to_data(cfg, train, train_size: int, replicas: int = 1, log=say):
    """The recipe fitted to a small training set: ``(cfg, train)``, both as they are for a large one.

    - batch: when an epoch would have fewer than ``min_epoch_steps`` steps, the largest power of two (8 at the
      least, a multiple of the replicas) that gives them; the batched training set is rebatched to it;
    - length: when the epochs would hold fewer than ``min_steps`` optimizer steps, as many epochs as hold them;
      early-stopping patience (in epochs: the same share of the training, so the same steps), warm-up and
      ``fine_tune_after`` stretch by the same factor, and a recipe without early stopping (or a patience as long
      as its epochs) gets a fifth of the epochs, so that a small set stops once validation stops improving.
    - budget: a set large enough for the recipe's steps, under ``--time-budget``, may train up to
      ``BUDGET_EPOCHS`` epochs: as many as the budget holds (``TimeBudget`` plans them), not the recipe's count.
    ``--epochs`` / ``--batch-size`` given on purpose set these rules to 0 (``config.FITTED_BY``). Resolving the
    fitted config again changes nothing, so a resumed run keeps its plan."""
    changes: dict = {}
    batch = cfg.batch_size
    if cfg.min_epoch_steps and train_size and math.ceil(train_size / batch) < cfg.min_epoch_steps:
        fitted = max(SMALLEST_FITTED_BATCH, 2 ** int(math.log2(max(1, train_size // cfg.min_epoch_steps))))
        fitted = max(replicas, fitted - fitted % replicas)
        if fitted < batch:
            batch = changes["batch_size"] = fitted
            train = train.rebatch(fitted)
    steps = max(1, math.ceil(train_size / batch))
    if cfg.min_steps and steps * cfg.epochs < cfg.min_steps:
        epochs = math.ceil(cfg.min_steps / steps)
        factor = epochs / cfg.epochs
        changes.update(
            epochs=epochs,
            warmup_epochs=round(cfg.warmup_epochs * factor, 3),
            early_stopping=math.ceil(cfg.early_stopping * factor)
            if 0 < cfg.early_stopping < cfg.epochs
            else max(3, epochs // 5),
        )
        if isinstance(cfg, Pretrained) and cfg.fine_tune_after:
            changes["fine_tune_after"] = math.ceil(cfg.fine_tune_after * factor)
    elif cfg.time_budget and cfg.min_steps and cfg.epochs < BUDGET_EPOCHS:
        # a large set under --time-budget: as many epochs as the budget holds (TimeBudget plans them after the
        # first, and stretches the schedule over them), not the recipe's count
        cfg = dataclasses.replace(cfg, epochs=BUDGET_EPOCHS)
        log(f"time budget: up to {BUDGET_EPOCHS} epochs, as many as {cfg.time_budget:g} min hold (--epochs N keeps N)")
    if changes:
        cfg = dataclasses.replace(cfg, **changes)
        log(
            f"small data ({train_size} training examples): "
            + ", ".join(f"{k} {v}" for k, v in changes.items())
            + f" ({steps * cfg.epochs} optimizer steps at most; --epochs / --batch-size keep the recipe's)"
        )
    return cfg, train


def _unfinished_run(task, cfg, log) -> Path | None:
    """The run a (re)started multi-worker job continues: ``--name`` of a run with a completed epoch."""
    if not cfg.name:
        return None
    run = RunDir(Path(cfg.out) / task.name / cfg.name)
    if not (run.checkpoint_dir / "state.json").exists():
        return None
    state = run.status().get("state", "unknown")
    if state == "completed":
        raise UserInputError(f"{run.path}: a completed run of that name exists; pick another --name")
    log(f"resuming the unfinished run {run.path} (status {state}) with the cluster")
    return run.path


def _check_workers_agree(strategy, resume) -> None:
    """All workers must start from the same epoch, or their collectives would not line up."""
    from edgesuite.common import distribute

    started = resume and (RunDir(Path(resume)).checkpoint_dir / "state.json").exists()
    epoch = load_state(RunDir(Path(resume)))["epoch"] if started else 0
    epochs = [int(e) for e in distribute.gather_from_workers(strategy, epoch)]
    if len(set(epochs)) > 1:
        where = ", ".join(f"worker {i} after epoch {e}" for i, e in enumerate(epochs))
        raise UserInputError(
            f"the workers disagree on where to resume ({where}); every worker reads the chief's "
            "run folder to resume, so --out must be storage that all of them see"
        )


def _train(
    task, cfg, data, strategy, policy, steps_per_epoch, resume, log, started: float, extra_callbacks: list
) -> RunDir:

    from edgesuite.common import distribute
    from edgesuite.common.callbacks import TimeBudget

    state: dict = {"epoch": 0, "history": [], "best": None, "wait": 0, "checkpoint": None}
    if resume:
        run = RunDir(Path(resume))
        run.claim()  # held until this function returns; train() took it before the data, this is the same claim
        _check_same_data(run, data.info)
        if (run.checkpoint_dir / "state.json").exists():
            state = load_state(run)
            check_checkpoint(run, state)  # before the run is marked running again
            if state["epoch"] > cfg.epochs:
                raise UserInputError(
                    f"epochs: {run.path} has trained {state['epoch']} epochs already, more than --epochs {cfg.epochs}"
                )
            log(f"resuming {run.path} after epoch {state['epoch']} of {cfg.epochs}")
        else:  # stopped before its first epoch ended: nothing was kept, so it starts again in the same folder
            log(f"{run.path}: stopped before its first epoch ended; training it again from the start")
        changed = _record_resume(run, cfg, task.name, state["epoch"], log)
        run.set_status("running", resumed_from_epoch=state["epoch"], **({"changed": changed} if changed else {}))
    else:
        run = RunDir.create(cfg.out, task.name, cfg.name)
        run.claim()
        save_yaml(cfg, run.config_path, task=task.name)
        run.write_info({**data.info, "precision": policy})
        log(f"run directory: {run.path}")

    try:
        with strategy.scope():
            if state["checkpoint"]:
                model = _load_checkpoint(run, state)
            else:
                model = task.build_model(cfg, data.info)
                task.initial_weights(model, data)
                _compile(model, task, cfg, data.info, steps_per_epoch)
                if warning := ema_warning(cfg, steps_per_epoch):
                    log(warning)
            apply_kernel_penalties(model, cfg.l1, cfg.l2)
        callbacks = (
            task.epoch_callbacks(cfg, data) + _callbacks(task, cfg, run, state, steps_per_epoch) + extra_callbacks
        )
        weights = class_weights(data.class_counts, cfg.class_weight if isinstance(cfg, ClassWeighted) else "none")
        verbose = 1 if sys.stdout.isatty() else 2
        clock_start = started - state.get("seconds", 0.0)  # --time-budget: earlier processes' time counts too
        fine_tune_at = task.fine_tune_epoch(cfg)
        segments = [(0, cfg.epochs)]
        if fine_tune_at is not None and 0 < fine_tune_at < cfg.epochs:
            segments = [(0, fine_tune_at), (fine_tune_at, cfg.epochs)]
        for start, end in segments:
            if state["epoch"] >= end:
                continue
            if start > 0 and state["epoch"] == start:
                # first epoch of fine-tuning: unfreeze, then a fresh optimizer at a tenth of the rate
                with strategy.scope():
                    task.unfreeze(model)
                    _compile(model, task, cfg, data.info, steps_per_epoch, lr_scale=0.1)
                    apply_kernel_penalties(model, cfg.l1, cfg.l2)
                log(f"epoch {start + 1}: backbone unfrozen for fine-tuning")
            t0, first = time.time(), state["epoch"] + 1
            budget = (
                [TimeBudget(cfg, state, steps_per_epoch, clock_start, lr_scale=0.1 if start else 1.0, log=log)]
                if cfg.time_budget
                else []
            )
            distribute.prepare_fit(model, strategy, data.train)
            build_training_state(model, strategy, data.train)
            model.fit(
                data.train,
                validation_data=data.val,
                epochs=end,
                initial_epoch=state["epoch"],
                callbacks=_ema_callbacks(cfg, resumed=state["epoch"] > start) + budget + callbacks,
                class_weight=weights,
                verbose=verbose,
                shuffle=False,
            )
            log(f"trained epochs {first}-{state['epoch']} in {time.time() - t0:.0f}s")
            if any(getattr(cb, "stopped_epoch", 0) for cb in budget + callbacks):
                break
        # saving, evaluating and plotting are part of the run: a crash there marks it failed, not 'running'
        best = run.checkpoint_dir / "best.weights.h5"
        if best.exists():
            model.load_weights(best)
            log(f"restored the best weights ({task.monitor[0]} = {state['best']:.4f})")
        with strategy.scope():
            final = task.final_model(model, cfg, data.info)
            # the saved file carries the plain loss: a student's distillation loss would need edgesuite to load
            # it, and a model made after training is compiled as the trained one was, so that fit() works on it
            if final is not model or teacher_runs(cfg):
                _compile(final, task, cfg, data.info, steps_per_epoch, distilled=False)
        if final is not model:
            log(f"saved model: {final.name} ({final.count_params():,} parameters, the same weights)")
        model = final
        _save_model_atomic(model, run.model_path)
        if strategy.num_replicas_in_sync > 1:  # workers compare this to see they ended in step
            import numpy as np

            log(f"final weights fingerprint: {sum(float(np.abs(w).sum()) for w in model.get_weights()):.6f}")
        finish(task, run, model, data, cfg, log)
    except KeyboardInterrupt:
        run.set_status("interrupted", epoch=state["epoch"])
        log(
            f"\ninterrupted after epoch {state['epoch']}; "
            f"continue with: edgesuite train {task.name} --resume {run.path}"
        )
        raise
    except BaseException as exc:
        if state["epoch"] == 0 and not resume and isinstance(exc, UserInputError):
            run.discard()
        else:
            run.set_status("failed", epoch=state["epoch"], error=f"{exc.__class__.__name__}: {exc}")
        raise
    finally:
        run.release()
    return run


def finish(task, run: RunDir, model, data, cfg, log=say) -> dict:
    """Evaluates on the held-out split, writes metrics and plots, marks the run completed."""
    eval_ds = data.test if data.test is not None else data.val
    metrics = task.evaluate(model, eval_ds, data.info) if eval_ds is not None else {}
    metrics["split"] = "test" if data.test is not None else "validation"
    baseline = (data.extras or {}).get("baseline")  # a classic model fitted on the same split (text: TF-IDF + LR)
    if baseline:
        metrics["baseline"] = baseline
        key = task.monitor[0].removeprefix("val_")
        if key in metrics and key in baseline and metrics[key] < baseline[key]:
            log(
                f"warning: the network's {key} {metrics[key]:.4f} is below the {baseline['name']} baseline's "
                f"{baseline[key]:.4f} on the same split"
            )
    if teachers := (data.extras or {}).get("teachers"):
        from edgesuite.common import distill

        ensemble = metrics["teacher_ensemble"] = distill.ensemble_metrics(task, teachers, eval_ds, data.info)
        log(
            f"teachers ({len(teachers)} run(s), averaged) on the {metrics['split']} split: accuracy "
            f"{ensemble['accuracy']:.4f}, macro_f1 {ensemble['macro_f1']:.4f}; the student: accuracy "
            f"{metrics.get('accuracy', float('nan')):.4f}, macro_f1 {metrics.get('macro_f1', float('nan')):.4f}"
        )
    run.write_metrics(metrics)
    plots = task.plots(run, model, data, metrics)
    run.set_status("completed", epochs=len(load_state(run)["history"]))
    run.mark_latest()
    summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    log(f"{metrics['split']} metrics: {summary}")
    log(f"model: {run.model_path}\nmetrics: {run.metrics_path}\nplots: {', '.join(str(p) for p in plots)}")
    return metrics


def _save_model_atomic(model, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    model.save(tmp)
    os.replace(tmp, path)


def _record_resume(run: RunDir, cfg, task_name: str, epoch: int, log) -> dict:
    """Writes the knobs a resume changed (``--epochs``, ``--time-budget``, ``--precision``, ...: the ones
    ``config.RESUMABLE`` lets it change) into ``config.yaml``, with a comment line saying after which epoch,
    so that the file still describes the run; returns ``{knob: [before, after]}`` for status.json."""
    import yaml

    text = run.config_path.read_text(encoding="utf-8")
    saved = yaml.safe_load(text) or {}
    now = dataclasses.asdict(cfg)
    changed = {k: [saved[k], v] for k, v in now.items() if k in saved and saved[k] != v}
    if not changed:
        return {}
    said = ", ".join(f"{k} {before!r} -> {after!r}" for k, (before, after) in changed.items())
    notes = [ln for ln in text.splitlines() if ln.startswith("# resumed ")]  # not the group headers
    notes.append(f"# resumed after epoch {epoch} on {time.strftime('%Y-%m-%d %H:%M')} with {said}")
    save_yaml(cfg, run.config_path, task=task_name, comments=notes)
    log(f"resume changes {said} (recorded in {run.config_path.name})")
    return changed


def _load_checkpoint(run: RunDir, state: dict):
    import keras

    path = run.checkpoint_dir / state["checkpoint"]
    try:
        return keras.models.load_model(path)
    except Exception as exc:  # a whole zip whose insides are damaged: Keras says "File not found" or worse
        why = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}" if str(exc) else exc.__class__.__name__
        raise UserInputError(f"{path}: cannot be loaded ({why}); {_state_remedy(run)}") from None


def _check_same_data(run: RunDir, info: dict) -> None:
    """Resuming on data that changed since the run started would feed the saved weights other class ids or
    token ids (a vocabulary is learned from the training split) without a word: refuse, naming what changed."""
    if not run.info_path.exists():
        return  # an old run without info.json: nothing to compare
    saved = run.read_info()  # a damaged one is refused: export and evaluate need it later
    if saved.get("task", info.get("task")) != info.get("task"):
        raise UserInputError(
            f"{run.info_path}: records a {saved['task']} run, this is a {info.get('task')} run; {INFO_REMEDY}"
        )
    lost = [k for k in INFO_TYPES if k in info and k not in saved]
    if lost:
        raise UserInputError(f"{run.info_path}: has no '{lost[0]}', which this run's data gives; {INFO_REMEDY}")
    fresh = json.loads(json.dumps(info))  # as info.json holds it (tuples -> lists)
    changed = sorted(k for k in fresh if k in saved and saved[k] != fresh[k])
    if changed:
        raise UserInputError(
            f"{run.path}: the data changed since this run started ({', '.join(changed)} differ "
            f"from {run.info_path.name}); resume on the same data, or start a new run"
        )


STATE_TYPES = {
    "epoch": (int, "a whole number of epochs"),
    "history": (list, "a list of epoch rows", dict),
    "best": ((int, float, type(None)), "a number or null"),
    "wait": (int, "a whole number"),
    "checkpoint": ((str, type(None)), "a checkpoint file name or null"),
    "seconds": ((int, float), "a number"),
}


def load_state(run: RunDir) -> dict:
    """The resume state of a run: last completed epoch, history, early-stopping counters. A damaged
    ``state.json`` is a UserInputError naming it (the RunRecorder writes it whole, so damage came from outside)."""
    path = run.checkpoint_dir / "state.json"
    if not path.exists():
        raise UserInputError(f"{run.path}: nothing to resume (no completed epoch in {path.parent})")
    remedy = _state_remedy(run)
    state = read_json_dict(path, remedy)
    problems = check_types(state, STATE_TYPES, required=("epoch", "history"))
    checkpoint = state.get("checkpoint")
    if not problems and state["epoch"] < 0:
        problems = [f"'epoch' should be 0 or more, found {state['epoch']}"]
    if not problems and isinstance(checkpoint, str) and Path(checkpoint).name != checkpoint:
        problems = [f"'checkpoint' should name a file in {path.parent.name}/, found {checkpoint!r}"]
    if problems:
        raise UserInputError(f"{path}: {problems[0]}; {remedy}")
    return {"best": None, "wait": 0, "checkpoint": None, **state}


def _state_remedy(run: RunDir) -> str:
    """What a user can do about a damaged resume point: start again; a finished model is not lost."""
    done = " (the run's model.keras, if any, still exports and evaluates)" if run.model_path.exists() else ""
    return f"the run cannot be resumed from it: restore it from a copy, or train again without --resume{done}"


def check_checkpoint(run: RunDir, state: dict) -> None:
    """The checkpoint ``state.json`` names is there and whole, before a resume marks the run running again."""
    if not state["checkpoint"]:
        return
    path = run.checkpoint_dir / state["checkpoint"]
    problem = keras_archive_problem(path)
    if problem:
        raise UserInputError(
            f"{path}: {problem} (state.json names it as the checkpoint of epoch {state['epoch']}); {_state_remedy(run)}"
        )


def write_history_csv(path: Path, rows: list[dict]) -> None:
    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


__all__ = [
    "train",
    "finish",
    "build_optimizer",
    "build_schedule",
    "apply_kernel_penalties",
    "class_weights",
    "write_history_csv",
    "write_json",
]
