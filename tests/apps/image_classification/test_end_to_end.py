"""Train, evaluate, predict, reproduce and resume an image classifier on real (tiny) data."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import edgesuite
from edgesuite.apps.image_classification.config import Config
from edgesuite.cli import main

REPO = Path(__file__).resolve().parents[3]


def _history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_train_writes_a_complete_run_directory(trained_run):
    for name in (
        "config.yaml",
        "info.json",
        "history.csv",
        "metrics.json",
        "model.keras",
        "plots/training_curves.png",
        "plots/confusion_matrix.png",
        "plots/val_predictions.png",
    ):
        assert (trained_run / name).is_file(), name
    assert json.loads((trained_run / "status.json").read_text())["state"] == "completed"
    assert (trained_run.parent / "latest").resolve() == trained_run.resolve()
    metrics = json.loads((trained_run / "metrics.json").read_text())
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "roc_auc", "per_class", "confusion_matrix"):
        assert key in metrics
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_examples"] > 0
    rows = _history(trained_run)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(rows[0])
    assert yaml.safe_load((trained_run / "config.yaml").read_text())["task"] == "image-classification"


def test_the_model_learns_the_tiny_set(trained_run):
    # 3 easy classes (t-shirt, trouser, sneaker) after 3 epochs: clearly above the 1/3 of chance
    assert json.loads((trained_run / "metrics.json").read_text())["accuracy"] > 0.5


def test_evaluate_and_predict(trained_run, tiny_folder, capsys):
    assert main(["evaluate", str(trained_run)]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert main(["evaluate", str(trained_run), "--data", str(tiny_folder)]) == 0
    assert list(trained_run.glob("eval-*.json"))
    assert "metrics on" in capsys.readouterr().out
    images = [str(tiny_folder / "trouser" / "0001.png"), str(tiny_folder / "sneaker" / "0002.png")]
    assert main(["predict", str(trained_run / ".." / "latest"), *images, "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["input"] for x in lines] == images
    for x in lines:
        assert x["label"] in ("sneaker", "t-shirt-top", "trouser") and 0 < x["probability"] <= 1


def test_config_file_of_a_run_reproduces_it(trained_run, tmp_path):
    run = edgesuite.train(
        "image-classification", config=str(trained_run / "config.yaml"), out=str(tmp_path), name="again"
    )
    first = yaml.safe_load((trained_run / "config.yaml").read_text())
    second = yaml.safe_load((run.path / "config.yaml").read_text())
    assert {**first, "out": None, "name": None} == {**second, "out": None, "name": None}
    a = json.loads((trained_run / "metrics.json").read_text())
    b = run.metrics
    # same seed, same data order and augmentation draws: the same numbers (CPU float sums may differ in the last bits)
    assert b["accuracy"] == pytest.approx(a["accuracy"], abs=1e-6)
    assert [float(r["loss"]) for r in _history(run.path)] == pytest.approx(
        [float(r["loss"]) for r in _history(trained_run)], rel=1e-4
    )
    assert run.evaluate()["accuracy"] == pytest.approx(b["accuracy"])
    assert run.predict([str(next((tmp_path).rglob("*.png")))])  # any png: a plot, still an image


def test_help_lists_every_flag_with_its_default(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "image-classification", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    import dataclasses

    for f in dataclasses.fields(Config):
        assert "--" + f.name.replace("_", "-") in text
        assert f"(default: {f.default!r})" in text
    for flag in ("--config", "--resume"):
        assert flag in text


def test_cli_help_does_not_import_tensorflow_and_the_app_script_works():
    code = (
        "import sys, edgesuite.cli as c; c._parser(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, str(REPO / "apps/image_classification/train.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "--image-size" in out and "--resume" in out


def test_killed_run_resumes_and_finishes_with_the_planned_epochs(tmp_path):
    """SIGKILL mid-training, then --resume: at most one epoch lost, 5 epochs in the end."""
    from tests.conftest import write_class_folders  # noqa: F401  (conftest is importable from the rootdir)

    data = write_class_folders(tmp_path / "data", per_class=120)
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "edgesuite",
        "train",
        "image-classification",
        "--data",
        str(data),
        "--epochs",
        "5",
        "--batch-size",
        "16",
        "--out",
        str(out),
        "--name",
        "k",
        "--augment",
        "none",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    state = out / "image-classification" / "k" / "checkpoints" / "state.json"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if state.exists() and json.loads(state.read_text())["epoch"] >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "training ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = out / "image-classification" / "k"
    done = json.loads(state.read_text())["epoch"]
    assert 2 <= done < 5
    assert json.loads((run / "status.json").read_text())["state"] == "running"  # killed: nothing claims success
    from edgesuite.common.runs import RunDir

    status = RunDir(run).status()  # ... and the process is gone, which the run's status says
    assert status["state"] == "abandoned" and f"--resume {run}" in status["hint"]
    assert main(["train", "image-classification", "--resume", str(run)]) == 0
    assert [int(r["epoch"]) for r in _history(run)] == [1, 2, 3, 4, 5]
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert sorted(p.name for p in (run / "checkpoints").glob("*.keras")) == ["epoch-5.keras"]


def test_a_run_killed_before_its_first_epoch_ended_resumes_from_the_start(tiny_folder, tmp_path, capsys):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "edgesuite",
        "train",
        "image-classification",
        "--data",
        str(tiny_folder),
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--out",
        str(out),
        "--name",
        "early",
        "--augment",
        "none",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    run = out / "image-classification" / "early"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and not (run / "info.json").exists():
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)  # the run folder and its config exist; its first epoch has not ended
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (run / "checkpoints" / "state.json").exists(), "the first epoch ended before the kill"
    from edgesuite.common.runs import RunDir

    assert RunDir(run).status()["state"] == "abandoned"
    assert main(["export", str(run), "--formats", "keras"]) == 2
    assert "(status: abandoned (its process" in capsys.readouterr().err
    assert main(["train", "image-classification", "--resume", str(run)]) == 0
    assert "stopped before its first epoch ended; training it again from the start" in capsys.readouterr().out
    assert [int(r["epoch"]) for r in _history(run)] == [1, 2]
    assert RunDir(run).status()["state"] == "completed"


def test_time_budget_ends_the_run_after_the_epochs_that_fit_and_the_run_completes(tiny_folder, tmp_path, capsys):
    """--time-budget far below one epoch: the first epoch runs, no second starts, and the run is finished
    as any other (best weights, test metrics, completed) with the seconds spent in its resume state."""
    out = tmp_path / "out"
    assert (
        main(
            [
                "train",
                "image-classification",
                "--data",
                str(tiny_folder),
                "--epochs",
                "4",
                "--batch-size",
                "8",
                "--out",
                str(out),
                "--name",
                "b",
                "--time-budget",
                "0.001",
            ]
        )
        == 0
    )
    run = out / "image-classification" / "b"
    assert [int(r["epoch"]) for r in _history(run)] == [1]
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert "accuracy" in json.loads((run / "metrics.json").read_text())
    assert json.loads((run / "checkpoints" / "state.json").read_text())["seconds"] > 0.06
    assert "would not fit, so training ends here" in capsys.readouterr().out


def test_mobilenetv2_with_local_weights_and_fine_tuning(tiny_folder, tmp_path):
    import keras
    import numpy as np

    from edgesuite.apps.image_classification.model import build_mobilenetv2

    donor = build_mobilenetv2(3, 32, 1, width=0.35)
    weights = tmp_path / "backbone.weights.h5"
    donor.get_layer("backbone").save_weights(weights)
    run = edgesuite.train(
        "image-classification",
        data=str(tiny_folder),
        model="mobilenetv2",
        image_size=32,
        width=0.35,
        weights=str(weights),
        freeze_backbone=True,
        fine_tune_after=1,
        epochs=2,
        batch_size=16,
        out=str(tmp_path / "out"),
        augment="none",
    )
    model = keras.models.load_model(run.path / "model.keras")
    assert model.get_layer("backbone").trainable  # unfrozen after epoch 1
    assert len(_history(run.path)) == 2
    fresh = build_mobilenetv2(3, 32, 1, width=0.35, weights=str(weights))
    first_conv = lambda m: m.get_layer("backbone").get_layer("Conv1").get_weights()[0]  # noqa: E731
    np.testing.assert_array_equal(first_conv(fresh), first_conv(donor))


def test_the_train_script_trains_evaluates_and_exports(tiny_folder, tmp_path, capsys):
    from tests.apps.test_train_scripts import load_script, script_ran

    main_ = load_script("image-classification").main
    assert (
        main_(
            [
                "--data",
                str(tiny_folder),
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--out",
                str(tmp_path),
                "--formats",
                "keras",
            ]
        )
        == 0
    )
    script_ran(tmp_path / "image-classification", capsys, "test accuracy")
