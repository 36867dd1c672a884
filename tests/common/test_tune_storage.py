"""edgesuite tune on a shared study: two workers on one PostgreSQL database and on one SQLite file finish the
trials asked for, none lost or run twice, with one worker killed mid-trial and started again; an invalid
--storage is one line, exit 2, and no tune folder left behind.

PostgreSQL: the server named by EDGESUITE_TEST_POSTGRES (postgresql://USER:PASSWORD@127.0.0.1:PORT/DB; .ci/run
starts one), else one started here from Debian's `postgresql` binaries (/usr/lib/postgresql/*/bin) into a
temporary folder on 127.0.0.1, else the PostgreSQL tests are skipped, unless EDGESUITE_TEST_POSTGRES_REQUIRED=1
(.ci/run sets it), where they fail."""

import contextlib
import csv
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

PG_URL_ENV = "EDGESUITE_TEST_POSTGRES"
PG_REQUIRED_ENV = "EDGESUITE_TEST_POSTGRES_REQUIRED"
TASK = "image-classification"
TRIALS = 2  # one per worker: each trial is a whole training run (tracing alone takes ~30 s on a busy CPU)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
    found = found or [p for p in [shutil.which("pg_ctl")] if p]
    return Path(found[-1]).resolve().parent if found else None


@contextlib.contextmanager
def _postgres_server(bindir: Path):
    """A throw-away PostgreSQL on 127.0.0.1 (password auth over TCP), as root through the postgres user."""
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="edgesuite-pg-"))
    password, port = uuid.uuid4().hex, _free_port()
    (root / "pw").write_text(password + "\n")
    if as_pg:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    data = root / "data"

    def run(*cmd, **kw):
        return subprocess.run([*as_pg, *map(str, cmd)], check=True, capture_output=True, text=True, timeout=120, **kw)

    try:
        run(
            bindir / "initdb",
            "-D",
            data,
            "-U",
            "edgesuite",
            "--pwfile",
            root / "pw",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        run(
            bindir / "pg_ctl",
            "-D",
            data,
            "-l",
            root / "log",
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off",
            "start",
        )
        try:
            run(
                bindir / "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                port,
                "-U",
                "edgesuite",
                "tune",
                env={**os.environ, "PGPASSWORD": password},
            )
            yield f"postgresql://edgesuite:{password}@127.0.0.1:{port}/tune"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres_url():
    url = os.environ.get(PG_URL_ENV)
    if url:
        yield url
        return
    bindir = _pg_bin()
    if bindir is None:
        _no_postgres()
    with _postgres_server(bindir) as url:
        yield url


def _no_postgres():
    why = (
        f"no PostgreSQL to test against: set {PG_URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DB, or install "
        "Debian's postgresql (its binaries in /usr/lib/postgresql/*/bin)"
    )
    if os.environ.get(PG_REQUIRED_ENV) == "1":
        pytest.fail(f"{PG_REQUIRED_ENV}=1: {why}")
    pytest.skip(why)


def test_a_missing_server_skips_unless_required(monkeypatch):
    monkeypatch.delenv(PG_REQUIRED_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no PostgreSQL"):
        _no_postgres()
    monkeypatch.setenv(PG_REQUIRED_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRED=1: no PostgreSQL"):
        _no_postgres()


def _tune_cmd(data, out, study, storage=None):
    return [
        sys.executable,
        "-m",
        "edgesuite",
        "tune",
        TASK,
        "--data",
        str(data),
        "--out",
        str(out),
        "--study",
        study,
        "--trials",
        str(TRIALS),
        "--space",
        "lr",
        "--epochs",
        "1",
        "--precision",
        "float32",
        "--seed",
        "1",
        "--batch-size",
        "32",
        "--image-size",
        "16",
        "--model",
        "cnn",
        "--width",
        "0.25",  # a multiplier: 8 made 256-2,048 filters and 12 s steps; the trial's length is its tracing
        "--augment",
        "none",
        "--tta",
        "none",
        *(["--storage", storage] if storage else []),
    ]


def _load_study(url: str, name: str, deadline: float):
    """The study as the workers write it, once the first of them has created it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    while True:
        try:
            return optuna.load_study(study_name=name, storage=url)
        except Exception:  # the database or the study not there yet
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _two_workers_one_killed(tiny_folder, out: Path, study: str, storage: str | None, url: str):
    """Workers A and B on one study; B killed (SIGKILL) once its trial has started, then started again."""
    import optuna

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = _tune_cmd(tiny_folder, out, study, storage)
    out.mkdir(exist_ok=True)
    logs = {name: open(out / f"{name}.log", "w") for name in ("a", "b", "b2")}
    procs = {name: subprocess.Popen(cmd, env=env, stdout=logs[name], stderr=subprocess.STDOUT) for name in ("a", "b")}
    try:
        deadline = time.time() + 300
        shared = _load_study(url, study, deadline)
        killed = None
        while killed is None:
            assert time.time() < deadline, "worker B never started a trial"
            assert procs["b"].poll() is None, (out / "b.log").read_text()[-2000:]
            killed = next(
                (
                    t.number
                    for t in shared.get_trials(states=(optuna.trial.TrialState.RUNNING,))
                    if t.user_attrs.get("pid") == procs["b"].pid
                ),
                None,
            )
            time.sleep(0.2)
        procs["b"].send_signal(signal.SIGKILL)
        procs["b"].wait()
        procs["b2"] = subprocess.Popen(cmd, env=env, stdout=logs["b2"], stderr=subprocess.STDOUT)
        for name in ("a", "b2"):
            procs[name].wait(timeout=max(1, deadline + 300 - time.time()))
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for f in logs.values():
            f.close()
    text = {name: (out / f"{name}.log").read_text() for name in logs}
    for name in ("a", "b2"):
        assert procs[name].returncode == 0, f"worker {name}:\n{text[name][-3000:]}"
        assert "Traceback" not in text[name], text[name][-3000:]
    return killed, shared.get_trials(), text


def _check_study(trials, killed: int, folder: Path):
    """TRIALS finished, each once in its own run folder; the killed trial failed and retried exactly once."""
    import optuna

    states = optuna.trial.TrialState
    by_state = {s: [t for t in trials if t.state == s] for s in states}
    done = by_state[states.COMPLETE] + by_state[states.PRUNED]
    assert len(done) == TRIALS, [(t.number, t.state.name) for t in trials]
    assert not by_state[states.RUNNING] and not by_state[states.WAITING]
    assert [t.number for t in by_state[states.FAIL] if not t.user_attrs.get("surplus")] == [killed]
    retries = [
        t for t in done if t.user_attrs.get("retry_of") == killed or t.system_attrs.get("failed_trial") == killed
    ]
    assert len(retries) == 1 and retries[0].params == trials[killed].params  # retried once, with its knobs
    runs = [t.user_attrs["run"] for t in done]
    assert len(set(runs)) == TRIALS and all((Path(r) / "metrics.json").exists() for r in runs)
    assert len({repr(sorted(t.params.items())) for t in done}) == TRIALS  # two workers, two draws of the knobs
    rows = list(csv.DictReader(open(folder / "trials.csv")))
    assert sorted((int(r["trial"]), r["state"]) for r in rows) == sorted(
        (t.number, "skipped" if t.user_attrs.get("surplus") else t.state.name.lower()) for t in trials
    )
    assert (folder / "best_config.yaml").exists()


def test_two_workers_on_one_postgresql_study(postgres_url, tiny_folder, tmp_path):
    study = f"shared-{uuid.uuid4().hex[:8]}"
    killed, trials, text = _two_workers_one_killed(tiny_folder, tmp_path, study, postgres_url, postgres_url)
    _check_study(trials, killed, tmp_path / TASK / f"tune-{study}")
    assert f"trial {killed} was cut off" in text["a"] + text["b2"]
    assert postgres_url.split("@")[0].split(":")[-1] not in "".join(text.values())  # the password not printed


def test_two_workers_on_one_sqlite_file(tiny_folder, tmp_path):
    folder = tmp_path / TASK / "tune-study"
    killed, trials, text = _two_workers_one_killed(
        tiny_folder, tmp_path, "study", None, f"sqlite:///{folder / 'study.db'}"
    )
    _check_study(trials, killed, folder)
    assert f"trial {killed} was cut off" in text["a"] + text["b2"]


def _bad_storage(tiny_folder, out: Path, storage: str, capsys):
    from edgesuite.cli import main

    code = main(
        [
            "tune",
            TASK,
            "--data",
            str(tiny_folder),
            "--out",
            str(out),
            "--trials",
            "1",
            "--space",
            "lr",
            "--storage",
            storage,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: storage") and "Traceback" not in err, err
    assert not (out / TASK).exists(), sorted(str(p) for p in out.rglob("*"))  # no empty tune folder
    return err


@pytest.mark.parametrize(
    "storage, says",
    [
        ("", "expected a database URL"),
        ("not a url", "not a database URL"),
        ("foo://somewhere/db", "unknown database kind 'foo'"),
        ("postgres://edgesuite@127.0.0.1/tune", "write postgresql://"),
        ("mysql://edgesuite:s3cret@127.0.0.1/tune", "driver"),
        ("postgresql://edgesuite:s3cret@127.0.0.1:{closed}/tune", "Connection refused"),
        ("sqlite:////no/such/folder/study.db", "unable to open database file"),
    ],
)
def test_an_invalid_storage_is_one_line_and_leaves_no_folder(storage, says, tiny_folder, tmp_path, capsys):
    err = _bad_storage(tiny_folder, tmp_path / "out", storage.format(closed=_free_port()), capsys)
    assert says in err and "s3cret" not in err, err


def test_a_refused_login_or_missing_database_is_one_line(postgres_url, tiny_folder, tmp_path, capsys):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    err = _bad_storage(
        tiny_folder, tmp_path / "out", url.set(password="wrong-password").render_as_string(False), capsys
    )
    assert "password authentication failed" in err and "wrong-password" not in err, err
    err = _bad_storage(tiny_folder, tmp_path / "out", url.set(database="no_such_db").render_as_string(False), capsys)
    assert 'database "no_such_db" does not exist' in err and url.password not in err, err


def test_a_trial_asked_for_beyond_the_trials_is_not_run(tiny_folder, tmp_path, monkeypatch, capfd):
    """Two workers asking at once: the one whose trial comes after the study held --trials finished or running
    ones runs nothing and marks it skipped (forced here: the start-up count is made to miss a running trial)."""
    import optuna

    from edgesuite import api
    from edgesuite.common import tune as ctune

    folder = tmp_path / TASK / "tune-study"
    folder.mkdir(parents=True)
    other = optuna.create_study(study_name="study", storage=f"sqlite:///{folder / 'study.db'}", direction="maximize")
    running = other.ask()  # a worker beside this one, alive (this process), in its trial
    running.set_user_attr("host", socket.gethostname())
    running.set_user_attr("pid", os.getpid())
    monkeypatch.setattr(ctune, "_counts", lambda study: (0, 0))
    lines = []
    result = api.tune(TASK, trials=1, space="lr", data=str(tiny_folder), out=str(tmp_path), epochs=1, log=lines.append)
    text = "\n".join(lines)
    assert "trial 1: not run, the study already holds 1 finished or running trials" in text, text
    rows = list(csv.DictReader(open(result.trials_csv)))
    assert [(r["trial"], r["state"]) for r in rows] == [("0", "running"), ("1", "skipped")]
    assert not (folder / "runs").exists() and result.best_config is None
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Trial 1 failed" not in err, err  # Optuna's failure report kept quiet


_OPEN_TOGETHER = """
import sys, time
from pathlib import Path
import optuna
from edgesuite.common import tune
folder, go = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
optuna.create_study(study_name="study", storage=tune.storage_for(None, folder), load_if_exists=True)
print("opened", flush=True)
"""


def test_workers_started_together_on_a_new_sqlite_file_all_open_it(tmp_path):
    """Three workers opening one new SQLite study at the same instant: each creates the tables and the version
    row, and before the retry all but one failed on the others' (UNIQUE constraint failed:
    alembic_version.version_num) in about one round of three."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for round_ in range(4):
        folder, go = tmp_path / f"round{round_}", tmp_path / f"go{round_}"
        folder.mkdir()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_TOGETHER, str(folder), str(go)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(3)
        ]
        try:
            for proc in procs:
                assert proc.stdout.readline().strip() == "ready", proc.stdout.read()
            go.touch()  # all three imported and waiting: let them go at once
            outs = [proc.communicate(timeout=120)[0] for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        for proc, out in zip(procs, outs):
            assert proc.returncode == 0 and "opened" in out, out[-2000:]
