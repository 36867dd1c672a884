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
Several workers on one study (the same command on several machines with one --storage, or twice on one
machine) stop at --trials finished or running between them; a trial asked for beyond that (two workers
asking at once) is not run ("skipped" in trials.csv); a dead worker's trial is retried once by whichever
worker fails it first: Optuna's heartbeat (stale after 3 minutes) or a worker on the same host seeing the
process gone, at its start or after each of its trials.
Each knob says how it may be searched (``knob(..., search=...)`` in the configs):

    "log"          log-uniform over [default / 10, default x 10]
    "pow2"         powers of two over [max(8, default / 4), default x 2]
    "uniform:a,b"  uniform over [a, b]
    "choices"      one of the knob's choices
    (v1, v2, ...)  one of these values
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import logging
import math
import os
import socket
import time
import warnings
from pathlib import Path

from edgesuite.common.config import DEFAULT_SPACE, FITTED_BY, load_yaml, searchable
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
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
    names = [s.strip() for s in (space.split(",") if isinstance(space, str) else (space or DEFAULT_SPACE)) if s.strip()]
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
        choices = next(
            f.metadata.get("choices")
            for klass in cls.__mro__
            if dataclasses.is_dataclass(klass)
            for f in dataclasses.fields(klass)
            if f.name == name and f.metadata.get("choices")
        )
        return trial.suggest_categorical(name, [c for c in choices if c != "auto"])  # auto: not a value to compare
    if spec == "log":
        if not default or default <= 0:
            raise UserInputError(
                f"space: '{name}' is searched around its value, which is {default!r}; give it a "
                f"positive value (--{name.replace('_', '-')} X) to search from"
            )
        return trial.suggest_float(name, default / 10, default * 10, log=True)
    if spec == "pow2":
        low = max(8, 2 ** int(math.log2(max(1, default // 4))))
        high = max(low, 2 ** int(math.ceil(math.log2(max(1, default * 2)))))
        return trial.suggest_categorical(name, [2**k for k in range(int(math.log2(low)), int(math.log2(high)) + 1)])
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


SCHEMA_RACE_TRIES = 6


def _schema_race(exc: BaseException) -> bool:
    """An error of two workers creating one database's tables at once (SQLite's and PostgreSQL's words)."""
    import sqlalchemy.exc

    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        return True
    text = str(getattr(exc, "orig", None) or exc).lower()
    return any(words in text for words in ("already exists", "database is locked", "duplicate key"))


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
        for attempt in range(SCHEMA_RACE_TRIES):
            try:
                with warnings.catch_warnings():  # the retry callback is marked experimental
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        parsed.render_as_string(hide_password=False),
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=60,
                        grace_period=180,
                        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                    )
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:
                # workers started together on a new database each create its tables and version row: all but
                # one meet the others' (UNIQUE constraint failed, table already exists, database is locked);
                # opening again finds the schema made
                if attempt + 1 == SCHEMA_RACE_TRIES or not _schema_race(exc):
                    raise
                time.sleep(0.2 * (attempt + 1))
    except sqlalchemy.exc.NoSuchModuleError:
        raise UserInputError(
            f"storage {shown}: unknown database kind '{parsed.drivername}'; expected {STORAGE_KINDS}"
        ) from None
    except ImportError:  # Optuna words it "Failed to import DB access module": name the module
        driver = parsed.get_driver_name()
        fix = (
            'pip install "edgesuite[postgres]" (psycopg), and write postgresql://'
            if backend == "postgresql"
            else f"pip install {_DRIVER_PACKAGES.get(driver, driver)}"
        )
        raise UserInputError(f"storage {shown}: its database driver '{driver}' is not installed: {fix}") from None
    except Exception as exc:  # refused, unreachable, wrong password, no such database, a file that cannot open
        where = " (does its folder exist, and may it be written?)" if backend == "sqlite" else ""
        raise UserInputError(f"storage {shown}: cannot open it: {_why(exc)}{where}") from None


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _recover_dead_trials(study, log) -> None:
    """Trials this host left RUNNING with their process gone (a kill): failed, and queued again with their
    knobs so that the next trial resumes the run folder from its last completed epoch. Of two processes that
    see the same dead trial, the one whose FAIL lands queues the retry; the other leaves it."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = t.user_attrs
        if attrs.get("host") == socket.gethostname() and not process_alive(attrs.get("pid")):
            try:
                failed = study._storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
            except Exception:  # another process failed it first (UpdateFinishedTrialError, a busy SQLite)
                failed = False
            if not failed:
                continue
            study.enqueue_trial(t.params, user_attrs={"resume_run": attrs.get("run", ""), "retry_of": t.number})
            run = Path(attrs["run"]) if attrs.get("run") else None
            log(
                f"trial {t.number} was cut off (process {attrs.get('pid')} is gone): trying it again, "
                + (
                    f"resuming {run}"
                    if run and (run / "checkpoints" / "state.json").exists()
                    else "from the start (no epoch of it had finished)"
                )
            )


class _Surplus(Exception):
    """A trial asked for when the study already held enough (two workers asking at once): not run."""


def _counts(study) -> tuple[int, int]:
    """(finished, running) trials of the study; finished is complete or pruned."""
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    finished = sum(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED) for s in states)
    return finished, states.count(optuna.trial.TrialState.RUNNING)


class _QuietFailures(logging.Filter):
    """Optuna logs a failed trial with its traceback, then its value: an invalid combination of knobs is one
    line instead, and a surplus trial (never run) nothing; edgesuite says what happened in its own words."""

    def __init__(self):
        super().__init__()
        self.quiet = set()

    def filter(self, record) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        number = message.split()[1] if message.startswith("Trial ") else None
        if isinstance(exc, (_Surplus, InvalidTrial)):
            self.quiet.add(number)
            record.exc_info = record.exc_text = None
            return not isinstance(exc, _Surplus)
        return not (number in self.quiet and message.endswith("failed with value None."))


def tune(
    task,
    base,
    trials: int,
    space=None,
    storage: str | None = None,
    study_name: str = "study",
    log=say,
    budget_minutes: float | None = None,
) -> TuneResult:
    """Runs trials of ``task`` until the study holds ``trials`` finished ones (complete or pruned) or the time
    budget (``base.time_budget`` minutes, for the whole search) is spent. Each trial is ``base`` with the
    searched knobs set, trained by the shared driver into the tune folder."""
    import optuna

    from edgesuite.common import select, training

    started = time.monotonic()
    budget = (budget_minutes if budget_minutes is not None else base.time_budget) * 60
    names = parse_space(type(base), space)
    candidates = tuple(task.model_candidates(base)) if select.is_auto(task, base) else ()
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
            study_name=study_name,
            storage=storage_for(storage, tune_dir),
            load_if_exists=True,
            direction="maximize" if mode == "max" else "minimize",
            sampler=_trial_seeded_tpe(base.seed, n_startup_trials=max(2, min(10, trials // 3))),
            # no trial is judged on its first two epochs (seen: 1-epoch verdicts pruned trials at 0.70 that the
            # schedule would have carried on), nor before two trials have finished
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
        )
        if study.user_attrs.get("task", task.name) != task.name:
            raise UserInputError(f"study '{study_name}': holds {study.user_attrs['task']} trials, not {task.name}")
    except BaseException:
        _remove_empty(made)
        raise
    study.set_user_attr("task", task.name)
    study.set_user_attr("space", names)
    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    with warnings.catch_warnings():  # heartbeats: a dead worker's trial (on any host) failed and queued again
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    _recover_dead_trials(study, log)
    runs_root = tune_dir / "runs"

    def objective(trial):
        # several workers on one study: a trial asked for when the study already held enough finished or
        # running ones (two workers asking at once) is not run; the trial with the lower number goes first
        ahead = [
            t
            for t in study.get_trials(deepcopy=False, states=(*finished, optuna.trial.TrialState.RUNNING))
            if t.number < trial.number
        ]
        if len(ahead) >= trials:
            trial.set_user_attr("surplus", True)
            study.stop()
            raise _Surplus(f"the study already holds {trials} finished or running trials")
        done = sum(t.state in finished for t in ahead)
        knobs = {name: suggest(trial, type(base), base, name, candidates) for name in names}
        # a searched batch size is the trial's, not refitted to the data (as --batch-size given on purpose)
        fixed = {rule: 0 for knob_, rule in FITTED_BY.items() if knob_ in knobs}
        # a trial queued again after its process died: "resume_run" (this host saw the process gone) or, from
        # Optuna's heartbeat retry, the user attributes of the trial it retries, "run" among them
        resume = trial.user_attrs.get("resume_run") or trial.user_attrs.get("run")
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        run_name = f"trial-{trial.number:04d}"
        resume = Path(resume) if resume and (Path(resume) / "checkpoints" / "state.json").exists() else None
        cfg = dataclasses.replace(base, **knobs, **fixed, out=str(runs_root), name=resume.name if resume else run_name)
        if budget:
            left = budget - (time.monotonic() - started)
            cfg = dataclasses.replace(
                cfg, time_budget=round(max(MIN_TRIAL_MINUTES, left / 60 / max(1, trials - done)), 3)
            )
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
        log(
            f"\n=== trial {trial.number} ({done + 1} of {trials}): {shown}"
            + (f", {cfg.time_budget:g} min" if budget else "")
            + (f" (resuming {resume})" if resume else "")
        )
        run = training.train(task, cfg, resume=resume, log=log, extra_callbacks=[pruning])
        import keras

        keras.backend.clear_session()  # trials in one process: no growth of the graph between them
        value = training.load_state(run)["best"]
        if value is None:
            raise optuna.TrialPruned(f"no {monitor} was reported")
        if pruning.pruned:
            log(
                f"trial {trial.number}: pruned after epoch {len(training.load_state(run)['history'])} "
                f"({monitor} {value:.4f} below the median of earlier trials at that epoch)"
            )
            raise optuna.TrialPruned()
        return value

    def after_trial(study_, frozen):
        if frozen.user_attrs.get("surplus"):
            log(f"trial {frozen.number}: not run, the study already holds {trials} finished or running trials")
        with _report_lock(tune_dir):
            write_report(study, tune_dir, names, monitor, log=None)
        if budget and time.monotonic() - started > budget - MIN_TRIAL_MINUTES * 60:
            study_.stop()
        _recover_dead_trials(study_, log)  # a worker beside this one killed: its trial queued again here
        if sum(_counts(study_)) >= trials:  # finished here, or finishing in other workers
            study_.stop()

    finished_n, running_n = _counts(study)
    if finished_n >= trials:
        log(f"study '{study_name}' already holds {trials} finished trials; ask for more with --trials N")
    elif finished_n + running_n >= trials:
        log(
            f"study '{study_name}' holds {finished_n} finished trial(s) and {running_n} running in other "
            f"processes, of {trials}: none left to start here"
        )
    elif budget and budget < MIN_TRIAL_MINUTES * 60:
        raise UserInputError(f"time_budget: {budget / 60:g} min is too short for a trial")
    else:
        log(
            f"tune: {task.name}, {trials - finished_n - running_n} trial(s) to run over {', '.join(names)}; "
            f"{monitor} ({mode}) on the validation split; study '{study_name}' in {tune_dir}"
        )
        quiet = _QuietFailures()
        optuna_log = logging.getLogger("optuna.study._optimize")
        optuna_log.addFilter(quiet)
        try:
            study.optimize(objective, callbacks=[after_trial], catch=(InvalidTrial, _Surplus), gc_after_trial=True)
        finally:
            optuna_log.removeFilter(quiet)
    with _report_lock(tune_dir):
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


@contextlib.contextmanager
def _report_lock(tune_dir: Path):
    """Several workers on one machine share the tune folder and the temporary names its report files are
    written under before their rename: one worker writes the report at a time."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, as before
        yield
        return
    with open(tune_dir / ".report.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _trial_seeded_tpe(seed: int, **kwargs):
    """Optuna's TPE sampler with its random draws seeded by ``seed`` and the trial's number: the search is
    reproducible, and workers started with the same flags on one study do not draw the same knobs (one sampler
    seeded alike in each draws one sequence: trials 0 and 1 of two workers had the same knobs).
    ``constant_liar``: a running trial counts as a poor one, so that a worker does not sample beside it."""
    import optuna

    def make(s):
        with warnings.catch_warnings():  # constant_liar is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=s, constant_liar=True, **kwargs)

    class TrialSeededTPE(optuna.samplers.BaseSampler):
        def __init__(self):
            self.tpe = make(seed)

        def before_trial(self, study, trial):
            self.tpe = make(None if seed is None else (seed * 1_000_003 + trial.number) % 2**32)
            self.tpe.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self.tpe.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self.tpe.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self.tpe.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self.tpe.after_trial(study, trial, state, values)

        def reseed_rng(self):
            self.tpe.reseed_rng()

    return TrialSeededTPE()


def write_report(study, tune_dir: Path, names: list[str], monitor: str, log=say) -> TuneResult:
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
            secs = (
                (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_complete and t.datetime_start
                else ""
            )
            w.writerow(
                [
                    t.number,
                    _state(t),
                    "" if t.value is None else f"{t.value:.6g}",
                    f"{secs:.1f}" if secs != "" else "",
                    *(t.params.get(p, "") for p in params),
                    t.user_attrs.get("run", ""),
                ]
            )
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
    write_json(
        tune_dir / "best.json",
        {
            "trial": best.number if best else None,
            monitor: best.value if best else None,
            "params": best.params if best else {},
            "run": best.user_attrs.get("run") if best else None,
        },
    )
    result = TuneResult(
        tune_dir,
        best.value if best else None,
        best.params if best else {},
        Path(best.user_attrs["run"]) if best else None,
        best_config,
        path,
        plots,
    )
    if log:
        counts = {
            s: sum(_state(t) == s for t in trials)
            for s in ("complete", "pruned", "fail", "running", "waiting", "skipped")
        }
        log(f"\ntrials: {', '.join(f'{n} {s}' for s, n in counts.items() if n)}; table: {path}")
        if best:
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in best.params.items())
            log(
                f"best: trial {best.number}, {monitor} {best.value:.4f} ({shown})\n"
                f"reproduce: edgesuite train {study.user_attrs.get('task', '')} --config {best_config}"
            )
        log(f"plots: {', '.join(str(p) for p in plots)}")
    return result


def _state(trial) -> str:
    """A trial's state as trials.csv writes it; "skipped": asked for when the study held enough, never run."""
    return "skipped" if trial.user_attrs.get("surplus") else trial.state.name.lower()


def importances(study, complete: list, params: list[str]) -> dict[str, float]:
    """Optuna's parameter importances (PED-ANOVA) of the knobs over the completed trials; equal shares while there
    are too few."""
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
    if ax.get_legend_handles_labels()[0]:  # no trial with a value yet: no legend (matplotlib would warn)
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
