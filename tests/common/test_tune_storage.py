"""edgesuite tune --storage: an invalid one (malformed, unknown kind, no driver, refused, wrong password, no such
database) is one line, exit 2, and no tune folder left behind.

PostgreSQL: the server named by EDGESUITE_TEST_POSTGRES (postgresql://USER:PASSWORD@127.0.0.1:PORT/DB), else one
started here from Debian's `postgresql` binaries (/usr/lib/postgresql/*/bin) into a temporary folder on 127.0.0.1,
else the PostgreSQL tests are skipped, unless EDGESUITE_TEST_POSTGRES_REQUIRED=1, where they fail."""

import contextlib
import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

PG_URL_ENV = "EDGESUITE_TEST_POSTGRES"
PG_REQUIRED_ENV = "EDGESUITE_TEST_POSTGRES_REQUIRED"
TASK = "image-classification"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
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
        run(bindir / "initdb", "-D", data, "-U", "edgesuite", "--pwfile", root / "pw", "--auth-host=scram-sha-256",
            "--auth-local=trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off", "start")
        try:
            run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "edgesuite", "tune",
                env={**os.environ, "PGPASSWORD": password})
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
    why = (f"no PostgreSQL to test against: set {PG_URL_ENV}=postgresql://USER:PASSWORD@HOST:PORT/DB, or install "
           "Debian's postgresql (its binaries in /usr/lib/postgresql/*/bin)")
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


def _bad_storage(tiny_folder, out: Path, storage: str, capsys):
    from edgesuite.cli import main

    code = main(["tune", TASK, "--data", str(tiny_folder), "--out", str(out), "--trials", "1", "--space", "lr",
                 "--storage", storage])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: storage") and "Traceback" not in err, err
    assert not (out / TASK).exists(), sorted(str(p) for p in out.rglob("*"))  # no empty tune folder
    return err


@pytest.mark.parametrize("storage, says", [
    ("", "expected a database URL"),
    ("not a url", "not a database URL"),
    ("foo://somewhere/db", "unknown database kind 'foo'"),
    ("postgres://edgesuite@127.0.0.1/tune", "write postgresql://"),
    ("mysql://edgesuite:s3cret@127.0.0.1/tune", "driver"),
    ("postgresql://edgesuite:s3cret@127.0.0.1:{closed}/tune", "Connection refused"),
    ("sqlite:////no/such/folder/study.db", "unable to open database file"),
])
def test_an_invalid_storage_is_one_line_and_leaves_no_folder(storage, says, tiny_folder, tmp_path, capsys):
    err = _bad_storage(tiny_folder, tmp_path / "out", storage.format(closed=_free_port()), capsys)
    assert says in err and "s3cret" not in err, err


def test_a_refused_login_or_missing_database_is_one_line(postgres_url, tiny_folder, tmp_path, capsys):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    err = _bad_storage(tiny_folder, tmp_path / "out", url.set(password="wrong-password").render_as_string(False),
                       capsys)
    assert "password authentication failed" in err and "wrong-password" not in err, err
    err = _bad_storage(tiny_folder, tmp_path / "out", url.set(database="no_such_db").render_as_string(False), capsys)
    assert 'database "no_such_db" does not exist' in err and url.password not in err, err

