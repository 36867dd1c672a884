"""Run directories: ``<out>/<task>/<run-name>/`` and the ``latest`` link.

A run directory holds ``config.yaml``, ``status.json``, ``history.csv``,
``metrics.json``, ``model.keras``, ``checkpoints/``, ``tensorboard/`` and
``plots/``. ``status.json`` says whether the run is ``running``, ``completed``,
``interrupted`` or ``failed``; only a completed run moves ``latest``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from edgesuite.common.errors import UserInputError


def write_json(path: Path, obj) -> None:
    """Writes JSON atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def ensure_writable_dir(path: Path) -> Path:
    """Creates ``path`` if needed; a folder that cannot be made or written is a UserInputError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot create the output folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UserInputError(f"{path}: output folder is not writable")
    return path


@dataclass
class RunDir:
    path: Path

    @property
    def task(self) -> str:
        return self.read_config_dict()["task"]

    config_path = property(lambda self: self.path / "config.yaml")
    model_path = property(lambda self: self.path / "model.keras")
    metrics_path = property(lambda self: self.path / "metrics.json")
    history_path = property(lambda self: self.path / "history.csv")
    checkpoint_dir = property(lambda self: self.path / "checkpoints")
    plots_dir = property(lambda self: self.path / "plots")
    info_path = property(lambda self: self.path / "info.json")

    @classmethod
    def create(cls, out: str | os.PathLike, task: str, name: str = "") -> "RunDir":
        """A new, empty run folder. ``mkdir`` is the claim (it fails if the folder exists), so two runs started
        at the same second, or with the same ``--name``, never share one: a dated name moves on to the next
        suffix, a given name is refused."""
        root = ensure_writable_dir(Path(out) / task)
        base = name or time.strftime("%Y%m%d-%H%M%S")
        path, n = root / base, 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                if name:
                    raise UserInputError(f"{path}: a run of that name exists; pick another --name or use "
                                         f"--resume {path}") from None
                n += 1
                path = root / f"{base}-{n}"
        (path / "plots").mkdir()
        (path / "checkpoints").mkdir()
        run = cls(path)
        run.set_status("running")
        return run

    def read_config_dict(self) -> dict:
        if not self.config_path.exists():
            raise UserInputError(f"{self.path}: not a run directory (no config.yaml)")
        return yaml.safe_load(self.config_path.read_text(encoding="utf-8"))

    def status(self) -> dict:
        """``status.json``; a run marked ``running`` whose process is gone from this machine (killed, or the
        machine restarted) reads as ``abandoned``, with a ``hint`` saying how to go on."""
        try:
            status = json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        if status.get("state") == "running" and status.get("host") == socket.gethostname() and \
                not process_alive(status.get("pid")):
            status = {**status, "state": "abandoned",
                      "hint": f"its process {status.get('pid')} is gone; continue it with: edgesuite train "
                              f"{self.path.parent.name} --resume {self.path}"}  # <out>/<task>/<run>
        return status

    def describe_status(self) -> str:
        """The state for a message: ``running``, or ``abandoned (its process ... is gone; ...)``."""
        status = self.status()
        state = status.get("state", "unknown")
        return f"{state} ({status['hint']})" if status.get("hint") else state

    def set_status(self, state: str, **extra) -> None:
        if state == "running":  # who runs it, so that a killed run can be told from a live one
            extra = {"pid": os.getpid(), "host": socket.gethostname(), **extra}
        write_json(self.path / "status.json", {"state": state, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra})

    def write_metrics(self, metrics: dict, path: Path | None = None) -> Path:
        path = path or self.metrics_path
        write_json(path, metrics)
        return path

    def write_info(self, info: dict) -> None:
        write_json(self.info_path, info)

    def read_info(self) -> dict:
        return json.loads(self.info_path.read_text(encoding="utf-8"))

    def mark_latest(self) -> None:
        """Points ``<out>/<task>/latest`` at this run (symlink swapped atomically)."""
        link = self.path.parent / "latest"
        tmp = self.path.parent / f".latest.{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(self.path.name, tmp)
        os.replace(tmp, link)

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def process_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # not known: assume it lives rather than call a live run abandoned
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def resolve_run(path: str | os.PathLike) -> RunDir:
    """Accepts a run directory or ``<out>/<task>/latest``; checks it holds a run."""
    p = Path(path)
    if not p.exists():
        raise UserInputError(f"{p}: no such run directory")
    p = p.resolve()
    run = RunDir(p)
    if not run.config_path.exists():
        raise UserInputError(f"{p}: not a run directory (no config.yaml)")
    return run
