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


CONFIG_REMEDY = "it holds the run's settings: restore config.yaml from a copy, or train the run again"
INFO_REMEDY = (
    "it records what the model was trained on (classes, input size, vocabulary): restore info.json "
    "from a copy, or train the run again"
)
INFO_TYPES = {
    "task": (str, "a task name"),
    "class_names": (list, "a list of names", str),
    "image_size": (int, "an integer"),
    "channels": (int, "an integer"),
    "input_length": (int, "an integer"),
    "max_length": (int, "an integer"),
}


def _kind(value) -> str:
    """What a parsed YAML/JSON value is, in a user's words."""
    return {
        dict: "mapping",
        list: "list",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def read_text(path: Path, remedy: str) -> str:
    """A UTF-8 file of a run (or an export) as text; missing, unreadable or binary is a UserInputError that
    names it and says what to do (``remedy``)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{path}: missing; {remedy}") from None
    except IsADirectoryError:
        raise UserInputError(f"{path}: a folder, not a file; {remedy}") from None
    except UnicodeDecodeError as exc:
        raise UserInputError(f"{path}: not a text file (byte {exc.start} is not UTF-8; damaged?); {remedy}") from None
    except OSError as exc:
        raise UserInputError(f"{path}: cannot be read ({exc.strerror}); {remedy}") from None


def read_json_dict(path: Path, remedy: str) -> dict:
    """A JSON object from ``path``; anything else (cut short, random bytes, empty, a list) is a UserInputError."""
    text = read_text(path, remedy)
    if not text.strip():
        raise UserInputError(f"{path}: empty; {remedy}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        why = f"{exc.msg} at line {exc.lineno} column {exc.colno}" if hasattr(exc, "msg") else str(exc)
        raise UserInputError(f"{path}: not valid JSON ({why}; cut short?); {remedy}") from None
    if not isinstance(value, dict):
        raise UserInputError(f"{path}: expected a JSON object of key: value, got a {_kind(value)}; {remedy}")
    return value


def check_types(values: dict, types: dict, required=()) -> list[str]:
    """What is wrong with ``values`` against ``types`` (key -> (type or types, words[, item type])): missing
    ``required`` keys, values of another type (bool is not a number here); empty if nothing."""
    problems = [f"no '{k}' key" for k in required if k not in values]
    for key, (kind, words, *item) in types.items():
        if key not in values:
            continue
        value = values[key]
        bad = isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))
        if bad or not isinstance(value, kind) or (item and not all(isinstance(v, item[0]) for v in value)):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            problems.append(f"'{key}' should be {words}, found {shown}")
    return problems


def keras_archive_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole ``.keras`` archive (a zip holding config.json and the weights), or None.
    A cut file loses the zip's directory at its end: Keras itself says only "File not found"."""
    import zipfile

    if not path.exists():
        return "missing"
    if path.is_dir():
        return "a folder, not a .keras file"
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        size = path.stat().st_size
        return f"not a whole .keras archive ({size:,} bytes{', empty' if not size else ''}; cut short or damaged)"
    if "config.json" not in names:
        return "not a Keras model archive (no config.json inside)"
    return None


def ensure_writable_dir(path: Path) -> Path:
    """Creates ``path`` if needed; a folder that cannot be made or written is a UserInputError."""
    check_output_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot create the output folder ({exc.strerror})") from None
    if not is_writable(path):
        raise UserInputError(f"{path}: output folder is not writable")
    return path


def is_writable(path: Path) -> bool:
    """Whether this process may write into the folder ``path``: ``os.access``, and its permission bits, which
    ``os.access`` ignores for root: a folder no one may write (``chmod a-w``) was made read-only on purpose."""
    try:
        return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)
    except OSError:
        return False


def check_output_dir(path: str | os.PathLike, flag: str = "") -> Path:
    """Checks, without creating anything, that ``path`` is or can become a writable folder: a file there, a
    file among its parents or a read-only folder is a UserInputError naming ``flag`` (e.g. ``--save-dir``)."""
    path = Path(path)
    where = f"{flag} {path}" if flag else str(path)
    if path.exists() and not path.is_dir():
        raise UserInputError(f"{where}: is a file, expected a folder to write into")
    existing = next((p for p in (path.absolute(), *path.absolute().parents) if p.exists()), None)
    if existing is None:
        return path
    if not existing.is_dir():
        raise UserInputError(f"{where}: {existing} is a file, so no folder can be made there")
    if not is_writable(existing):
        which = "the folder" if existing == path.absolute() else f"the folder above it, {existing},"
        raise UserInputError(f"{where}: {which} is read-only; give a folder you can write to")
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
    def create(cls, out: str | os.PathLike, task: str, name: str = "") -> RunDir:
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
                    raise UserInputError(
                        f"{path}: a run of that name exists; pick another --name or use --resume {path}"
                    ) from None
                n += 1
                path = root / f"{base}-{n}"
        (path / "plots").mkdir()
        (path / "checkpoints").mkdir()
        run = cls(path)
        run.set_status("running")
        return run

    def read_config_dict(self) -> dict:
        """``config.yaml`` as a mapping with a ``task:`` name; a damaged file is a UserInputError naming it."""
        path = self.config_path
        if not path.exists():
            raise UserInputError(f"{self.path}: not a run directory (no config.yaml)")
        remedy = CONFIG_REMEDY
        text = read_text(path, remedy)
        import yaml  # here, not at the top: `edgesuite predict` on a board has no PyYAML

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise UserInputError(
                f"{path}: not valid YAML{where} ({getattr(exc, 'problem', None) or exc}); {remedy}"
            ) from None
        if values is None:
            raise UserInputError(f"{path}: empty; {remedy}")
        if not isinstance(values, dict):
            raise UserInputError(f"{path}: expected a mapping of key: value, got a {_kind(values)}; {remedy}")
        task = values.get("task")
        if not isinstance(task, str) or not task:
            found = "has no 'task:' key" if task is None else f"has 'task: {task!r}', not a task name"
            raise UserInputError(f"{path}: {found}; {remedy}")
        return values

    def status(self) -> dict:
        """``status.json``; a run marked ``running`` whose process is gone from this machine (killed, or the
        machine restarted) reads as ``abandoned``, with a ``hint`` saying how to go on."""
        try:
            status = json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        if (
            status.get("state") == "running"
            and status.get("host") == socket.gethostname()
            and not process_alive(status.get("pid"))
        ):
            status = {
                **status,
                "state": "abandoned",
                "hint": f"its process {status.get('pid')} is gone; continue it with: edgesuite train "
                f"{self.path.parent.name} --resume {self.path}",
            }  # <out>/<task>/<run>
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
        """``info.json`` (what the data gave: classes, input size, vocabulary) as a mapping; a damaged file is a
        UserInputError naming it. What each task needs of it is checked by the task's reader."""
        info = read_json_dict(self.info_path, INFO_REMEDY)
        problems = check_types(info, INFO_TYPES)
        if problems:
            raise UserInputError(f"{self.info_path}: {problems[0]}; {INFO_REMEDY}")
        return info

    def mark_latest(self) -> None:
        """Points ``<out>/<task>/latest`` at this run (symlink swapped atomically)."""
        link = self.path.parent / "latest"
        tmp = self.path.parent / f".latest.{os.getpid()}"
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(self.path.name, tmp)
        os.replace(tmp, link)

    def discard(self) -> None:
        self.release()
        shutil.rmtree(self.path, ignore_errors=True)

    LOCK_NAME = "train.lock"

    def claim(self) -> None:
        """Makes this process the one training the run until :meth:`release` (or its end), or refuses.

        ``train.lock`` is held with ``flock``, which the OS drops when its process dies, so the lock of a killed
        run is taken over as it is; ``status.json`` naming another live process on this machine as ``running``
        refuses too (where ``flock`` is missing, or a lock not shared). Refused: a UserInputError naming the
        process, so that two ``--resume`` of one run never train into the same folder."""
        if not is_writable(self.path) or not is_writable(
            self.checkpoint_dir if self.checkpoint_dir.is_dir() else self.path
        ):
            raise UserInputError(
                f"{self.path}: the run folder is read-only; training writes its checkpoints and "
                "status there (copy the run to a writable folder and resume the copy)"
            )
        status = self._status_file()
        pid, host = status.get("pid"), status.get("host")
        if (
            status.get("state") == "running"
            and pid != os.getpid()
            and host == socket.gethostname()
            and isinstance(pid, int)
            and process_alive(pid)
        ):
            raise self._busy(status)
        if self.path in _HELD:
            return
        try:
            import fcntl
        except ImportError:  # Windows: status.json alone
            return
        lock = self.path / self.LOCK_NAME
        for _ in range(3):  # a holder that releases removes the file: lock the file that is there now
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UserInputError(f"{lock}: cannot create the run's lock file ({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise self._busy(self._status_file()) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(lock).st_ino
            except FileNotFoundError:
                same = False
            if same:
                _HELD[self.path] = fd
                return
            os.close(fd)
        raise UserInputError(f"{lock}: another process keeps taking and dropping this run's lock; try again")

    def release(self) -> None:
        """Gives up the claim of :meth:`claim` (the lock file goes, then the lock)."""
        fd = _HELD.pop(self.path, None)
        if fd is None:
            return
        try:
            (self.path / self.LOCK_NAME).unlink()
        except OSError:
            pass
        os.close(fd)

    def _status_file(self) -> dict:
        try:
            status = json.loads((self.path / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return status if isinstance(status, dict) else {}

    def _busy(self, status: dict) -> UserInputError:
        who = (
            f"process {status['pid']} on {status.get('host', 'this machine')}"
            if status.get("pid")
            else "another process"
        )
        since = f" since {status['time']}" if status.get("time") else ""
        return UserInputError(
            f"{self.path}: is being trained by {who}{since}; wait for it to finish or stop it "
            "before resuming (two trainings into one run folder would overwrite each other)"
        )


_HELD: dict[Path, int] = {}  # run folder -> the descriptor of the train.lock this process holds


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
