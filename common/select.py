"""``--model auto``: one run per candidate architecture, the best by the validation monitor kept.

The task names its candidates (:meth:`Task.model_candidates`, cheapest first). Each trains as a run of its own
under ``RUN/candidates/<task>/<model>/``, with its own data fitting (a bag-of-n-grams model reads longer texts
than a CNN), early stopping and checkpoints; a ``--time-budget`` is shared out as it goes: each candidate gets
an equal part of what the earlier ones left. The winner is the best validation value of the task's monitor
(``val_macro_f1`` for text), never the test split; on a tie the cheaper one stays. Its files are copied into
``RUN``, whose ``config.yaml`` names the winner (``edgesuite train TASK --config RUN/config.yaml`` trains it
again) and whose ``metrics.json`` adds ``model_selection``: every candidate's validation score, held-out
metrics and seconds. A killed run resumed with ``--resume RUN`` skips the candidates that finished and
resumes the one that was cut.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from edgesuite.common.config import save_yaml
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.common.runs import RunDir, write_json

AUTO = "auto"
KEEP_IN_PARENT = ("candidates", "status.json")  # the parent's own; everything else comes from the winner


def is_auto(task, cfg) -> bool:
    """``--model auto`` of a task that picks by training candidates; a task without candidates resolves ``auto``
    from the data itself (image classification: ``Task.load_data``)."""
    return getattr(cfg, "model", None) == AUTO and bool(task.model_candidates(cfg))


def train_candidates(task, cfg, train_one, resume=None, log=say, data=None) -> RunDir:
    """Trains every candidate with ``train_one(task, cfg, resume=..., log=...)`` (the driver's ``train``) and
    returns the parent run holding the winner. A resumed parent is claimed first (``RunDir.claim``): another
    process training it is refused; a new one is this process's from its creation (status.json names it)."""
    parent = RunDir(Path(resume)) if resume else None
    if parent is not None:
        parent.claim()
    try:
        return _train_candidates(task, cfg, train_one, resume, log, data)
    finally:
        if parent is not None:
            parent.release()


def _train_candidates(task, cfg, train_one, resume, log, data) -> RunDir:
    if data is not None:
        raise UserInputError(
            "model: 'auto' trains one run per candidate, each loading the data for its own "
            "model; pass data=None, or name one --model"
        )
    candidates = tuple(task.model_candidates(cfg))
    if not candidates:
        raise UserInputError(f"model: {task.name} has no candidates for 'auto'; name one --model")
    if cfg.strategy == "multi-worker":
        raise UserInputError(
            "model: 'auto' is not available for multi-worker training (each candidate is a run "
            "of its own); name one --model"
        )
    started = time.monotonic()
    root = Path(cfg.out) / task.name
    made_root = not root.exists()
    if resume:
        parent = RunDir(Path(resume))
        parent.set_status("running")
    else:
        parent = RunDir.create(cfg.out, task.name, cfg.name)
        save_yaml(cfg, parent.config_path, task=task.name)
    children = parent.path / "candidates" / task.name
    log(
        f"model auto: training {', '.join(candidates)} in {parent.path / 'candidates'}; the best validation "
        f"{task.monitor[0]} is kept"
    )
    rows = []
    try:
        for i, model in enumerate(candidates):
            child = RunDir(children / model)
            budget = 0.0
            if cfg.time_budget:
                left = cfg.time_budget - (time.monotonic() - started) / 60
                budget = round(max(left, 0.0) / (len(candidates) - i), 3)
            state = child.status().get("state") if child.path.exists() else None
            if state != "completed":
                if state is not None and not (child.checkpoint_dir / "state.json").exists():
                    shutil.rmtree(child.path)  # cut before its first epoch ended: nothing to keep
                    state = None
                if cfg.time_budget and budget <= 0:
                    log(f"model auto: no time left for {model}")
                    continue
                log(
                    f"model auto: candidate {i + 1} of {len(candidates)}: {model}"
                    + (f", {budget:.1f} min" if budget else "")
                )
                sub = dataclasses.replace(
                    cfg, model=model, out=str(parent.path / "candidates"), name=model, time_budget=budget
                )
                t0 = time.monotonic()
                train_one(task, sub, resume=child.path if state is not None else None, log=log)
                write_json(child.path / "selection.json", {"seconds": round(time.monotonic() - t0, 1)})
            rows.append(_row(task, child, model))
    except BaseException as exc:
        if not resume and isinstance(exc, UserInputError) and not any(children.glob("*/status.json")):
            parent.discard()  # refused before any candidate began (bad data, flags): leave nothing behind
            if made_root and not any(root.iterdir()):
                root.rmdir()
            raise
        parent.set_status(
            "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed", error=f"{exc.__class__.__name__}: {exc}"
        )
        raise
    if not rows:
        raise UserInputError(f"time_budget: {cfg.time_budget} min left no time for any candidate")
    best = _winner(rows, *task.monitor)
    _adopt(parent, RunDir(Path(best["run"])), cfg, task.name, rows, best, task.monitor[0])
    _log_table(rows, best, task.monitor[0], log)
    return parent


def _row(task, child: RunDir, model: str) -> dict:
    import json

    state = json.loads((child.checkpoint_dir / "state.json").read_text())
    metrics = json.loads(child.metrics_path.read_text())
    seconds = None
    if (child.path / "selection.json").exists():
        seconds = json.loads((child.path / "selection.json").read_text()).get("seconds")
    return {
        "model": model,
        "run": str(child.path),
        task.monitor[0]: state["best"],
        "epochs": state["epoch"],
        "seconds": seconds,
        **{k: v for k, v in metrics.items() if isinstance(v, float)},
    }


def _winner(rows: list[dict], key: str, mode: str) -> dict:
    best = rows[0]
    for row in rows[1:]:  # strictly better only: on a tie the cheaper (earlier) candidate stays
        if (row[key] > best[key]) if mode == "max" else (row[key] < best[key]):
            best = row
    return best


def _adopt(parent: RunDir, winner: RunDir, cfg, task_name: str, rows: list[dict], best: dict, key: str) -> None:
    """The winner's files into the parent, its config with the parent's own place and budget, and the table."""
    import json

    for item in winner.path.iterdir():
        if item.name in KEEP_IN_PARENT or item.name == "selection.json":
            continue
        target = parent.path / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
    chosen = winner.read_config_dict()
    chosen.pop("task", None)
    chosen.update(out=cfg.out, name=parent.path.name if cfg.name else "", time_budget=cfg.time_budget)
    save_yaml(dataclasses.replace(cfg, **chosen), parent.config_path, task=task_name)
    metrics = json.loads(parent.metrics_path.read_text())
    metrics["model_selection"] = {"chosen": best["model"], "by": key, "candidates": rows}
    parent.write_metrics(metrics)
    parent.set_status("completed", model=best["model"])
    parent.mark_latest()


def _log_table(rows: list[dict], best: dict, key: str, log) -> None:
    log(f"model auto: kept {best['model']} (best {key})")
    log(f"  {'model':<12} {key:>14} {'epochs':>7} {'seconds':>8}")
    for row in rows:
        mark = "  <- kept" if row is best else ""
        secs = f"{row['seconds']:.0f}" if row.get("seconds") is not None else "-"
        log(f"  {row['model']:<12} {row[key]:>14.4f} {row['epochs']:>7} {secs:>8}{mark}")


__all__ = ["AUTO", "is_auto", "train_candidates"]
