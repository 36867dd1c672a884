"""``edgesuite tune``: a hyper-parameter search over a task's declared knobs, with Optuna.

Why Optuna and not KerasTuner: the search here is over the driver's knobs (optimizer, schedule, batch,
augmentation, architecture), not over layers inside one model-building function, and every trial is a whole
run of the shared driver (data fitted, time budget, resume, checkpoints). Optuna's define-by-run trials fit
that as they are; it stores studies in any SQLAlchemy database (a SQLite file here, a shared MySQL or
PostgreSQL URL for several machines on one study, with heartbeats that fail and retry a dead worker's trial),
prunes with the intermediate values each epoch reports, and ships parameter importances.

Layout, ``OUT/<task>/tune-<study>/``:

    study.db          the Optuna storage (unless --storage names another)
    runs/<task>/trial-NNNN/   each trial's run folder (config.yaml, history.csv, metrics.json, ...)
    trials.csv        one row a trial: number, state, value, seconds, its knobs, its run folder
    plots/tune_history.png, plots/tune_knobs.png
    best_config.yaml  the best trial's config.yaml: ``edgesuite train TASK --config best_config.yaml``

A killed ``tune`` started again with the same flags continues the study: trials that finished stay, and the
trial in flight (its process gone) is marked failed and tried again from its run's last completed epoch.
Each knob says how it may be searched (``knob(..., search=...)`` in the configs):

    "log"          log-uniform over [default / 10, default x 10]
    "pow2"         powers of two over [max(8, default / 4), default x 2]
    "uniform:a,b"  uniform over [a, b]
    "choices"      one of the knob's choices
    (v1, v2, ...)  one of these values
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import socket
import warnings
import time
from pathlib import Path

from edgesuite.common.config import DEFAULT_SPACE, FITTED_BY, load_yaml, searchable
from edgesuite.common.errors import UserInputError
from edgesuite.common.runs import RunDir, process_alive, write_json

MIN_TRIAL_MINUTES = 0.25  # under --time-budget, no trial starts with less than this left to it


class InvalidTrial(UserInputError):
    """A trial's knobs that do not go together (e.g. heads not dividing embed_dim): that trial fails."""


@dataclasses.dataclass
class TuneResult:
    path: Path
    best_value: float | None
    best_params: dict
    best_run: Path | None
    best_config: Path | None
    trials_csv: Path
    plots: list


def parse_space(cls, space: str | list[str] | None) -> list[str]:
    names = [s.strip() for s in (space.split(",") if isinstance(space, str) else (space or DEFAULT_SPACE))
             if s.strip()]
    known = searchable(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for name in names:
        if name not in known:
            what = "is not a knob of this task" if name not in fields else "is not declared searchable"
            raise UserInputError(f"space: '{name}' {what}; searchable knobs: {', '.join(sorted(known))}")
    if not names:
        raise UserInputError("space: expected at least one knob, e.g. lr,batch_size")
    return names


def suggest(trial, cls, base, name: str, candidates: tuple = ()):
    """The trial's value of one knob, from the knob's declaration and the base config's value (``--model auto``:
    one of the task's candidates)."""
    spec = searchable(cls)[name]
    default = getattr(base, name)
    if name == "model" and candidates:
        return trial.suggest_categorical(name, list(candidates))
    if isinstance(spec, tuple):
        return trial.suggest_categorical(name, list(spec))
    if spec == "choices":
        choices = next(f.metadata.get("choices") for klass in cls.__mro__ if dataclasses.is_dataclass(klass)
                       for f in dataclasses.fields(klass) if f.name == name and f.metadata.get("choices"))
        return trial.suggest_categorical(name, list(choices))
    if spec == "log":
        if not default or default <= 0:
            raise UserInputError(f"space: '{name}' is searched around its value, which is {default!r}; give it a "
                                 f"positive value (--{name.replace('_', '-')} X) to search from")
        return trial.suggest_float(name, default / 10, default * 10, log=True)
    if spec == "pow2":
        low = max(8, 2 ** int(math.log2(max(1, default // 4))))
        high = max(low, 2 ** int(math.ceil(math.log2(max(1, default * 2)))))
        return trial.suggest_categorical(name, [2 ** k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)])
    if isinstance(spec, str) and spec.startswith("uniform:"):
        low, high = (float(v) for v in spec.split(":", 1)[1].split(","))
        return trial.suggest_float(name, low, high)
    raise ValueError(f"knob {name}: unknown search declaration {spec!r}")


def pruning_callback(trial, monitor: str, history: list[dict]):
    """A Keras callback that reports the monitored value each epoch to the trial and ends the run when the
    pruner says so (``.pruned``; the run still finishes from its best epoch, so its folder is complete)."""
    import keras

    class Pruning(keras.callbacks.Callback):
        pruned = False

        def on_train_begin(self, logs=None):
            for row in history:  # a resumed trial: the epochs its first process reported
                if monitor in row:
                    trial.report(float(row[monitor]), int(row["epoch"]))

        def on_epoch_end(self, epoch, logs=None):
            value = (logs or {}).get(monitor)
            if value is None or math.isnan(float(value)):
                return
            trial.report(float(value), epoch + 1)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return Pruning()


STORAGE_KINDS = "sqlite:///PATH, postgresql://USER:PASSWORD@HOST[:PORT]/DB or mysql://USER:PASSWORD@HOST/DB"
_DRIVER_PACKAGES = {"mysqldb": "mysqlclient", "pymysql": "PyMySQL", "psycopg2": "psycopg2-binary"}
CONNECT_TIMEOUT_S = 15  # a database host that drops packets: refused after this, not after the OS's minutes


def shown_url(url: str) -> str:
    """The storage URL as messages show it: the password masked."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: mask what looks like user:password@
        import re

        return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)


def _why(exc: BaseException) -> str:
    """The driver's own words for a failed connection, on one line (SQLAlchemy's wrapper, its SQL and its
    'Background on this error' link left out)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).split("(Background on this error")[0].split("[SQL:")[0]
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return text or inner.__class__.__name__


def storage_for(url: str | None, tune_dir: Path):
    """The study's Optuna storage: ``url`` (SQLAlchemy form) or a SQLite file in ``tune_dir``. Opening it
    connects (and creates the tables), so a URL that is malformed, of an unknown kind, without its driver,
    unreachable or refused is a UserInputError naming the storage, here, before anything is written."""
    import optuna
    import sqlalchemy.exc
    from sqlalchemy.engine import make_url

    if url is not None and not url.strip():
        raise UserInputError(f"storage: expected a database URL ({STORAGE_KINDS}), got an empty string")
    url = url.strip() if url else f"sqlite:///{tune_dir / 'study.db'}"
    shown = shown_url(url)
    try:
        parsed = make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise UserInputError(f"storage {shown}: not a database URL; expected {STORAGE_KINDS}") from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        raise UserInputError(f"storage {shown}: write postgresql://, not postgres:// (SQLAlchemy's name)")
    engine_kwargs = {}
    if backend == "postgresql":
        # `pip install "edgesuite[postgres]"` brings psycopg (3), SQLAlchemy 2.1's default PostgreSQL driver;
        # SQLAlchemy 2.0 reads a plain postgresql:// as psycopg2: take the driver that is there
        if parsed.drivername == "postgresql" and _importable("psycopg") and not _importable("psycopg2"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        if "connect_timeout" not in parsed.query:
            engine_kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        with warnings.catch_warnings():  # the retry callback is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False), engine_kwargs=engine_kwargs,
                heartbeat_interval=60, grace_period=180,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    except sqlalchemy.exc.NoSuchModuleError:
        raise UserInputError(f"storage {shown}: unknown database kind '{parsed.drivername}'; expected "
                             f"{STORAGE_KINDS}") from None
    except ImportError:  # Optuna words it "Failed to import DB access module": name the module
        driver = parsed.get_driver_name()
        fix = ('pip install "edgesuite[postgres]" (psycopg), and write postgresql://' if backend == "postgresql"
               else f"pip install {_DRIVER_PACKAGES.get(driver, driver)}")
        raise UserInputError(f"storage {shown}: its database driver '{driver}' is not installed: {fix}") from None
    except Exception as exc:  # refused, unreachable, wrong password, no such database, a file that cannot open
        where = " (does its folder exist, and may it be written?)" if backend == "sqlite" else ""
        raise UserInputError(f"storage {shown}: cannot open it: {_why(exc)}{where}") from None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _recover_dead_trials(study, log) -> None:
    """Trials this host left RUNNING with their process gone (a kill): failed, and queued again with their
    knobs so that the next trial resumes the run folder from its last completed epoch."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = t.user_attrs
        if attrs.get("host") == socket.gethostname() and not process_alive(attrs.get("pid")):
            study._storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"resume_run": attrs.get("run", ""), "retry_of": t.number})
            log(f"trial {t.number} was cut off (process {attrs.get('pid')} is gone): trying it again"
                + (f", resuming {attrs['run']}" if attrs.get("run") else ""))


def tune(task, base, trials: int, space=None, storage: str | None = None, study_name: str = "study",
         log=print, budget_minutes: float | None = None) -> TuneResult:
    """Runs trials of ``task`` until the study holds ``trials`` finished ones (complete or pruned) or the time
    budget (``base.time_budget`` minutes, for the whole search) is spent. Each trial is ``base`` with the
    searched knobs set, trained by the shared driver into the tune folder."""
    import optuna

    from edgesuite.common import select, training

    started = time.monotonic()
    budget = (budget_minutes if budget_minutes is not None else base.time_budget) * 60
    names = parse_space(type(base), space)
    candidates = tuple(task.model_candidates(base)) if select.is_auto(base) else ()
    if candidates and "model" not in names:  # each trial one model, so that pruning reads one learning curve
        names.append("model")
        log(f"model auto: each trial trains one of {', '.join(candidates)} (searched with the rest)")
    if trials < 1:
        raise UserInputError(f"trials: expected an integer >= 1, got {trials}")
    tune_dir = Path(base.out) / task.name / f"tune-{study_name}"
    monitor, mode = task.monitor
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    made = _make_dirs(tune_dir)  # the folders this call creates: removed again if the study cannot be opened
    try:
        study = optuna.create_study(
            study_name=study_name, storage=storage_for(storage, tune_dir), load_if_exists=True,
            direction="maximize" if mode == "max" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=base.seed, n_startup_trials=max(2, min(10, trials // 3))),
            # no trial is judged on its first two epochs (seen: 1-epoch verdicts pruned trials at 0.70 that the
            # schedule would have carried on), nor before two trials have finished
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2))
        if study.user_attrs.get("task", task.name) != task.name:
            raise UserInputError(f"study '{study_name}': holds {study.user_attrs['task']} trials, not {task.name}")
    except BaseException:
        _remove_empty(made)
        raise
    study.set_user_attr("task", task.name)
    study.set_user_attr("space", names)
    _recover_dead_trials(study, log)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    runs_root = tune_dir / "runs"

    def objective(trial):
        done = len(study.get_trials(deepcopy=False, states=finished))
        knobs = {name: suggest(trial, type(base), base, name, candidates) for name in names}
        # a searched batch size is the trial's, not refitted to the data (as --batch-size given on purpose)
        fixed = {rule: 0 for knob_, rule in FITTED_BY.items() if knob_ in knobs}
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        run_name = f"trial-{trial.number:04d}"
        resume = trial.user_attrs.get("resume_run")
        resume = Path(resume) if resume and (Path(resume) / "checkpoints" / "state.json").exists() else None
        cfg = dataclasses.replace(base, **knobs, **fixed, out=str(runs_root), name=resume.name if resume else run_name)
        if budget:
            left = budget - (time.monotonic() - started)
            cfg = dataclasses.replace(cfg, time_budget=round(max(MIN_TRIAL_MINUTES, left / 60 / max(1, trials - done)), 3))
        try:
            cfg.validate()
        except UserInputError as exc:  # knobs that do not go together: this trial fails, the search goes on
            raise InvalidTrial(str(exc)) from None
        trial.set_user_attr("run", str(resume or runs_root / task.name / cfg.name))
        history = training.load_state(RunDir(resume))["history"] if resume else []
        if resume:  # the run's own resolved config, as --resume reads it
            cfg = load_yaml(type(base), RunDir(resume).config_path)
        pruning = pruning_callback(trial, monitor, history)
        shown = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in knobs.items())
        log(f"\n=== trial {trial.number} ({done + 1} of {trials}): {shown}"
            + (f", {cfg.time_budget:g} min" if budget else "") + (f" (resuming {resume})" if resume else ""))
        run = training.train(task, cfg, resume=resume, log=log, extra_callbacks=[pruning])
        import keras

        keras.backend.clear_session()  # trials in one process: no growth of the graph between them
        value = training.load_state(run)["best"]
        if value is None:
            raise optuna.TrialPruned(f"no {monitor} was reported")
        if pruning.pruned:
            log(f"trial {trial.number}: pruned after epoch {len(training.load_state(run)['history'])} "
                f"({monitor} {value:.4f} below the median of earlier trials at that epoch)")
            raise optuna.TrialPruned()
        return value

    def after_trial(study_, frozen):
        write_report(study, tune_dir, names, monitor, log=None)
        if budget and time.monotonic() - started > budget - MIN_TRIAL_MINUTES * 60:
            study_.stop()

    left = trials - len(study.get_trials(deepcopy=False, states=finished))
    if left <= 0:
        log(f"study '{study_name}' already holds {trials} finished trials; ask for more with --trials N")
    elif budget and budget < MIN_TRIAL_MINUTES * 60:
        raise UserInputError(f"time_budget: {budget / 60:g} min is too short for a trial")
    else:
        log(f"tune: {task.name}, {left} trial(s) to run over {', '.join(names)}; {monitor} ({mode}) on the "
            f"validation split; study '{study_name}' in {tune_dir}")
        study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(trials, states=finished), after_trial],
                       catch=(InvalidTrial,), gc_after_trial=True)
    return write_report(study, tune_dir, names, monitor, log=log)


def _make_dirs(path: Path) -> list[Path]:
    """``mkdir -p path``; returns the folders it created, deepest first."""
    made = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        made.append(folder)
    path.mkdir(parents=True, exist_ok=True)
    return made


def _remove_empty(folders: list[Path]) -> None:
    """Removes what :func:`_make_dirs` created, where nothing but an empty ``study.db`` is in it."""
    for folder in folders:
        try:
            db = folder / "study.db"
            if db.is_file() and db.stat().st_size == 0:
                db.unlink()
            folder.rmdir()
        except OSError:
            return


def write_report(study, tune_dir: Path, names: list[str], monitor: str, log=print) -> TuneResult:
    """trials.csv, the two plots and best_config.yaml, each written whole (temporary name, then rename)."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    path = tune_dir / "trials.csv"
    tmp = path.with_name(path.name + ".tmp")
    params = list(dict.fromkeys([*names, *(k for t in trials for k in t.params)]))
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["trial", "state", monitor, "seconds", *params, "run"])
        for t in trials:
            secs = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and \
                t.datetime_start else ""
            w.writerow([t.number, t.state.name.lower(), "" if t.value is None else f"{t.value:.6g}",
                        f"{secs:.1f}" if secs != "" else "", *(t.params.get(p, "") for p in params),
                        t.user_attrs.get("run", "")])
    os.replace(tmp, path)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    plots = _plots(study, trials, complete, tune_dir / "plots", params, monitor)
    best = study.best_trial if complete else None
    best_config = None
    if best is not None and best.user_attrs.get("run"):
        run = RunDir(Path(best.user_attrs["run"]))
        if run.config_path.exists():
            import yaml

            values = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
            values.update(name="", out=str(tune_dir.parent.parent))  # OUT of OUT/<task>/tune-<study>
            best_config = tune_dir / "best_config.yaml"
            tmpc = best_config.with_name(best_config.name + ".tmp")
            tmpc.write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
            os.replace(tmpc, best_config)
    write_json(tune_dir / "best.json", {"trial": best.number if best else None, monitor: best.value if best else None,
                                        "params": best.params if best else {},
                                        "run": best.user_attrs.get("run") if best else None})
    result = TuneResult(tune_dir, best.value if best else None, best.params if best else {},
                        Path(best.user_attrs["run"]) if best else None, best_config, path, plots)
    if log:
        counts = {s: sum(t.state.name.lower() == s for t in trials) for s in ("complete", "pruned", "fail", "running")}
        log(f"\ntrials: {', '.join(f'{n} {s}' for s, n in counts.items() if n)}; table: {path}")
        if best:
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in best.params.items())
            log(f"best: trial {best.number}, {monitor} {best.value:.4f} ({shown})\n"
                f"reproduce: edgesuite train {study.user_attrs.get('task', '')} --config {best_config}")
        log(f"plots: {', '.join(str(p) for p in plots)}")
    return result


def importances(study, complete: list, params: list[str]) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA) of the knobs over the completed trials; equal shares while there are too few."""
    import optuna

    varied = [p for p in params if len({repr(t.params.get(p)) for t in complete}) > 1]
    if len(complete) >= 3 and varied:
        try:
            with warnings.catch_warnings():  # "importances will be equal" on a handful of trials: shown as such
                warnings.simplefilter("ignore", UserWarning)
                return dict(optuna.importance.get_param_importances(study, params=varied))
        except (RuntimeError, ValueError, ZeroDivisionError):
            pass
    return {p: 1.0 / max(1, len(params)) for p in params}


def _plots(study, trials, complete, out: Path, params: list[str], monitor: str) -> list[Path]:
    from edgesuite.common.plots import _plt, _save

    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    maximize = study.direction.name == "MAXIMIZE"
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colours = {"COMPLETE": "tab:blue", "PRUNED": "tab:orange", "FAIL": "tab:red"}
    for state, colour in colours.items():
        pts = [(t.number, t.value if t.value is not None else _last(t)) for t in trials if t.state.name == state]
        pts = [p for p in pts if p[1] is not None]
        if pts:
            ax.scatter(*zip(*pts), color=colour, label=state.lower(), zorder=3)
    if complete:
        best, xs, ys = None, [], []
        for t in sorted(complete, key=lambda t: t.number):
            best = t.value if best is None else (max if maximize else min)(best, t.value)
            xs.append(t.number)
            ys.append(best)
        ax.step(xs, ys, where="post", color="tab:green", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(monitor)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("tune: the validation metric of each trial")
    paths = [_save(fig, out / "tune_history.png")]
    ranked = sorted(importances(study, complete, params).items(), key=lambda kv: -kv[1])[:3]
    fig, axes = plt.subplots(1, max(1, len(ranked)), figsize=(4.2 * max(1, len(ranked)), 3.4), squeeze=False)
    for ax, (name, share) in zip(axes[0], ranked):
        pts = [(t.params[name], t.value) for t in complete if name in t.params]
        if pts:
            xs, ys = zip(*pts)
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
                ax.scatter(xs, ys, color="tab:blue")
                if min(xs) > 0 and max(xs) / min(xs) > 20:
                    ax.set_xscale("log")
            else:
                labels = sorted({str(x) for x in xs})
                ax.scatter([labels.index(str(x)) for x in xs], ys, color="tab:blue")
                ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set_title(f"{name} (importance {share:.2f})")
        ax.set_xlabel(name)
        ax.set_ylabel(monitor)
        ax.grid(alpha=0.3)
    fig.suptitle("completed trials against the most important knobs", y=1.03)
    paths.append(_save(fig, out / "tune_knobs.png"))
    return paths


def _last(trial):
    values = trial.intermediate_values
    return values[max(values)] if values else None


__all__ = ["tune", "TuneResult", "searchable", "parse_space", "write_report", "DEFAULT_SPACE"]
