"""edgesuite tune: the declared space, three trials into a SQLite study, resume after a kill, the best config
reproduces its trial."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from edgesuite.common.errors import UserInputError


def _tune_args(data, out, trials=3, extra=()):
    return [
        "tune",
        "image-classification",
        "--data",
        str(data),
        "--epochs",
        "3",
        "--precision",
        "float32",
        "--seed",
        "1",
        "--trials",
        str(trials),
        "--space",
        "lr,batch_size,augment",
        "--out",
        str(out),
        *extra,
    ]


def test_space_is_what_the_knobs_declare():
    import optuna

    from edgesuite.apps import get_config_class
    from edgesuite.common.tune import parse_space, searchable, suggest

    cls = get_config_class("image-classification")
    declared = searchable(cls)
    assert declared["lr"] == "log" and declared["batch_size"] == "pow2" and declared["model"] == "choices"
    assert "data" not in declared and "epochs" not in declared
    with pytest.raises(UserInputError, match="'epochs' is not declared searchable"):
        parse_space(cls, "lr,epochs")
    with pytest.raises(UserInputError, match="'heads' is not a knob of this task"):
        parse_space(cls, "heads")
    base = cls(lr=3e-3, batch_size=128)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    lr, batch, model = (suggest(trial, cls, base, k) for k in ("lr", "batch_size", "model"))
    assert (
        3e-4 <= lr <= 3e-2
        and batch in (32, 64, 128, 256)
        and model in set(cls.__dataclass_fields__["model"].metadata["choices"]) - {"auto"}
    )


def test_three_trials_then_the_best_config_reproduces_its_trial(tiny_folder, tmp_path):
    from edgesuite.cli import main

    assert main(_tune_args(tiny_folder, tmp_path)) == 0
    folder = tmp_path / "image-classification" / "tune-study"
    assert (folder / "study.db").exists()
    rows = list(csv.DictReader(open(folder / "trials.csv")))
    states = [r["state"] for r in rows]  # the median pruner may stop the third (seeded, recipe-dependent)
    assert len(rows) == 3 and states[:2] == ["complete"] * 2 and set(states) <= {"complete", "pruned"}
    assert {r["batch_size"] for r in rows} <= {"32", "64", "128", "256"}
    for name in ("tune_history.png", "tune_knobs.png"):
        assert (folder / "plots" / name).stat().st_size > 5000
    best = json.loads((folder / "best.json").read_text())
    assert best["val_accuracy"] == pytest.approx(
        max(float(r["val_accuracy"]) for r in rows if r["state"] == "complete"), abs=1e-5
    )
    trial_cfg = yaml.safe_load(open(os.path.join(best["run"], "config.yaml")))
    assert trial_cfg["batch_size"] == best["params"]["batch_size"]  # the searched batch, not refitted to the data
    assert main(["train", "image-classification", "--config", str(folder / "best_config.yaml"), "--name", "again"]) == 0
    again = tmp_path / "image-classification" / "again"
    repro = yaml.safe_load((again / "config.yaml").read_text())
    assert {k: v for k, v in repro.items() if k not in ("name", "out")} == {
        k: v for k, v in trial_cfg.items() if k not in ("name", "out")
    }
    state = json.loads((again / "checkpoints" / "state.json").read_text())
    assert state["best"] == pytest.approx(best["val_accuracy"], abs=0.05)  # CPU kernels: one image of 24 at most


def test_a_killed_tune_resumes_where_it_stopped(tiny_folder, tmp_path, capsys):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "edgesuite", *_tune_args(tiny_folder, tmp_path, extra=["--epochs", "6"])]
    runs = tmp_path / "image-classification" / "tune-study" / "runs" / "image-classification"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        state = runs / "trial-0001" / "checkpoints" / "state.json"
        while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epoch"] >= 2):
            time.sleep(0.2)
        assert state.exists(), "the second trial never finished an epoch"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    cut_at = json.loads(state.read_text())["epoch"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "trial 1 was cut off" in out.stdout and "resuming" in out.stdout
    rows = list(csv.DictReader(open(tmp_path / "image-classification" / "tune-study" / "trials.csv")))
    states = [r["state"] for r in rows]
    assert states.count("fail") == 1 and states.count("complete") + states.count("pruned") == 3
    assert not (runs / "trial-0003").exists() or states.count("complete") + states.count("pruned") == 3
    resumed = json.loads((runs / "trial-0001" / "checkpoints" / "state.json").read_text())
    assert [row["epoch"] for row in resumed["history"]][:cut_at] == list(range(1, cut_at + 1))
    assert resumed["epoch"] > cut_at  # continued from the epoch it was cut at, in the same folder
    from edgesuite.cli import main  # a third start, in this process: the study is done, nothing runs

    capsys.readouterr()
    assert main(cmd[3:]) == 0
    assert "already holds 3 finished trials" in capsys.readouterr().out
