"""Run folders: claimed atomically, and a run whose process is gone reads as abandoned."""

import subprocess
import sys
import threading

import pytest

from edgesuite.common import runs
from edgesuite.common.errors import UserInputError
from edgesuite.common.runs import RunDir


def _race(out, name: str, n: int = 8) -> tuple[list, list]:
    """n threads create a run at the same moment (and, for dated names, the same second)."""
    made, refused, gate = [], [], threading.Barrier(n)

    def create():
        gate.wait()
        try:
            made.append(RunDir.create(out, "image-classification", name).path)
        except UserInputError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=create) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return made, refused


def test_runs_started_in_the_same_second_get_distinct_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.time, "strftime", lambda fmt, *a: "20261201-120000")
    made, refused = _race(tmp_path, "")
    assert not refused and len(set(made)) == 8
    assert sorted(p.name for p in made) == ["20261201-120000"] + [f"20261201-120000-{i}" for i in range(2, 9)]


def test_one_name_is_claimed_by_one_run_and_the_others_are_told(tmp_path):
    made, refused = _race(tmp_path, "shared")
    assert len(made) == 1 and len(refused) == 7
    assert all("a run of that name exists; pick another --name" in r for r in refused)


def test_a_running_run_whose_process_is_gone_reads_as_abandoned(tmp_path):
    run = RunDir.create(tmp_path, "image-classification", "r")
    (run.path / "config.yaml").write_text("task: image-classification\n")
    assert run.status()["state"] == "running" and run.status()["pid"] > 0  # this process: alive
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run.set_status("running", pid=int(gone.stdout))
    status = run.status()
    assert status["state"] == "abandoned"
    assert status["hint"] == (
        f"its process {int(gone.stdout)} is gone; continue it with: "
        f"edgesuite train image-classification --resume {run.path}"
    )
    run.set_status("failed")
    assert run.describe_status() == "failed"


@pytest.mark.parametrize("pid", [None, "x", 0])
def test_an_unknown_pid_is_not_called_abandoned(tmp_path, pid):
    run = RunDir.create(tmp_path, "image-classification", "r")
    run.set_status("running", pid=pid)
    assert run.status()["state"] == "running"
