"""--strategy: mirrored over logical CPU devices, two local workers, and the clear failures.

Each training runs in its own process: logical devices and the multi-worker
runtime must be configured before TensorFlow starts, which in the pytest
process it already has.
"""

import csv
import json
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from edgesuite.cli import main

# bow without dropout under plain SGD: a model whose every step is deterministic, so the strategies must agree
RECIPE = [
    "--model",
    "bow",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--vocab-size",
    "400",
    "--max-length",
    "24",
    "--bigram-buckets",
    "300",
    "--embed-dim",
    "8",
    "--optimizer",
    "sgd",
    "--lr",
    "0.5",
    "--schedule",
    "constant",
    "--no-shuffle",
    "--precision",
    "float32",
    "--weight-decay",
    "0",
    "--dropout",
    "0",
    "--class-weight",
    "none",
    "--seed",
    "3",
]


def _write_reviews(path, per_class):
    from edgesuite.common.datasets import rotten_tomatoes as rt

    rows, seen = [], {}
    with rt.open_text() as f:
        for row in csv.DictReader(f):
            if row["text"].strip() and seen.get(row["category"], 0) < per_class:
                seen[row["category"]] = seen.get(row["category"], 0) + 1
                rows.append((row["text"][:200], row["category"]))
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    return path


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    return _write_reviews(tmp_path_factory.mktemp("dist") / "reviews.csv", 64)


def _train(data, out, name, *extra, env=None, timeout=300):
    cmd = [
        sys.executable,
        "-m",
        "edgesuite",
        "train",
        "text-classification",
        "--data",
        str(data),
        *RECIPE,
        "--out",
        str(out),
        "--name",
        name,
        *extra,
    ]
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def _finish(proc, timeout=300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out[-3000:]
    return out


def _weights(run_dir):
    import keras

    return keras.models.load_model(run_dir / "model.keras").get_weights()


@pytest.fixture(scope="module")
def single(reviews, tmp_path_factory):
    """The recipe on one device (the default strategy): what every distributed run must reproduce. Its printout
    and its run folder."""
    out = tmp_path_factory.mktemp("single")
    return _finish(_train(reviews, out, "default", "--strategy", "default")), out / "text-classification" / "default"


def test_mirrored_on_two_logical_cpus_matches_the_default_strategy(reviews, single, tmp_path):
    mirrored = _finish(_train(reviews, tmp_path, "mirrored", "--strategy", "mirrored", "--devices", "2"))
    assert "strategy: default with 1 replica(s)" in single[0]
    assert "strategy: mirrored with 2 replica(s) on /device:CPU:0, /device:CPU:1" in mirrored
    assert "steps per epoch of 32 (16 per replica)" in mirrored
    a, b = _weights(single[1]), _weights(tmp_path / "text-classification" / "mirrored")
    assert max(float(np.abs(x - y).max()) for x, y in zip(a, b)) < 1e-5
    loss = [
        [float(r["loss"]) for r in csv.DictReader(open(run / "history.csv"))]
        for run in (single[1], tmp_path / "text-classification" / "mirrored")
    ]
    np.testing.assert_allclose(loss[0], loss[1], rtol=1e-5)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_train_in_step_and_only_the_chief_writes(reviews, single, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    try:
        for i in range(2):
            procs.append(
                _train(reviews, tmp_path / "out", "mw", "--strategy", "multi-worker", env=_cluster_env(workers, i))
            )
        outs = [_finish(p, timeout=400) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    prints = [re.findall(r"final weights fingerprint: ([0-9.]+)", o) for o in outs]
    assert prints[0] and prints[0] == prints[1], prints
    assert "worker 0 of 2, 2 replica(s)" in outs[0] and "worker 1 of 2" in outs[1]
    runs = sorted(p.name for p in (tmp_path / "out" / "text-classification").iterdir())
    assert runs == ["latest", "mw"]
    scratch = re.search(r"done: (\S+)", outs[1]).group(1)
    assert not os.path.exists(scratch)  # the worker's folder is gone
    # the chief's run is the single-device run, step for step (DATA sharding of the same global batches)
    assert re.findall(r"loss: ([0-9.]+)", single[0])[:2] == re.findall(r"loss: ([0-9.]+)", outs[0])[:2]


def test_two_workers_stream_disjoint_shares_of_a_segmentation_folder(tmp_path):
    """Each worker decodes its half of the files (and caches only that); both finish the same epochs in step."""
    from edgesuite.cli import main

    data = tmp_path / "canvas"
    assert (
        main(["data", "make-canvas", "--out", str(data), "--format", "masks", "--count", "27", "--image-size", "32"])
        == 0
    )
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    cmd = [
        sys.executable,
        "-m",
        "edgesuite",
        "train",
        "segmentation",
        "--data",
        str(data),
        "--image-size",
        "32",
        "--width",
        "0.25",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--precision",
        "float32",
        "--strategy",
        "multi-worker",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "seg",
    ]
    procs = [
        subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **_cluster_env(workers, i)},
        )
        for i in range(2)
    ]
    try:
        outs = [_finish(p, timeout=400) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for out in outs:
        assert re.search(r"cache: train split decoded in memory \(.*this worker's share: 1/2\)", out), out[-2000:]
        # the recipe's 20-minute budget gives way to its epochs (a budget given on purpose is refused)
        assert "time budget: the recipe's 20 min is off for multi-worker training" in out, out[-2000:]
    prints = [re.findall(r"final weights fingerprint: ([0-9.]+)", o) for o in outs]
    assert prints[0] and prints[0] == prints[1], prints
    assert json.loads((tmp_path / "out" / "segmentation" / "seg" / "status.json").read_text())["state"] == "completed"


def _cluster_env(workers, i):
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}


def test_a_worker_killed_mid_epoch_rejoins_and_the_cluster_finishes_the_planned_epochs(tmp_path):
    # a CNN over 600 reviews in batches of 16: epochs of a few seconds, so the kill lands inside one
    data = _write_reviews(tmp_path / "reviews.csv", 300)
    recipe = [
        "--model",
        "cnn",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--vocab-size",
        "2000",
        "--max-length",
        "48",
        "--precision",
        "float32",
        "--strategy",
        "multi-worker",
    ]
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    run = tmp_path / "out" / "text-classification" / "ft"
    state = run / "checkpoints" / "state.json"

    def start(i):
        cmd = [
            sys.executable,
            "-m",
            "edgesuite",
            "train",
            "text-classification",
            "--data",
            str(data),
            *recipe,
            "--out",
            str(tmp_path / "out"),
            "--name",
            "ft",
        ]
        log = open(tmp_path / f"worker{i}-{time.monotonic_ns()}.log", "w+")
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **_cluster_env(workers, i)},
        )
        return proc, log

    procs = []
    try:
        chief, chief_log = start(0)
        victim, _ = start(1)
        procs += [chief, victim]
        deadline = time.monotonic() + 240
        while not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
            assert time.monotonic() < deadline and chief.poll() is None, "the first epoch never completed"
            time.sleep(0.2)
        time.sleep(1.0)  # into epoch 2
        assert json.loads(state.read_text())["epoch"] == 1
        victim.kill()
        victim.wait()
        rejoined, rejoined_log = start(1)  # the same command
        procs.append(rejoined)
        for p in (chief, rejoined):
            p.wait(timeout=max(1, deadline + 120 - time.monotonic()))
        chief_log.seek(0)
        rejoined_log.seek(0)
        outs = [chief_log.read(), rejoined_log.read()]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert chief.returncode == 0 and rejoined.returncode == 0, outs[0][-3000:] + outs[1][-3000:]
    # the survivor hears of the loss as UNAVAILABLE (connection reset) or, when the restarted worker
    # reaches it first, as ABORTED ("tried to connect with a different incarnation"): seen both ways
    assert re.search(r"lost a peer worker \((UnavailableError|AbortedError)", outs[0]), outs[0][-3000:]
    assert "restarting (1 of 3)" in outs[0]
    assert all("after epoch 1 of 3" in o for o in outs), outs
    history = list(csv.DictReader(open(run / "history.csv")))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3]
    assert json.loads((run / "status.json").read_text()) | {"time": 0} == {"state": "completed", "epochs": 3, "time": 0}
    prints = [re.findall(r"final weights fingerprint: ([0-9.]+)", o) for o in outs]
    assert prints[0] and prints[0] == prints[1]


def test_workers_that_disagree_on_the_resume_epoch_stop_with_a_clear_message(reviews, tmp_path):
    # the chief sees an unfinished run; the other worker, as on a host without the shared --out, does not
    _finish(_train(reviews, tmp_path / "chief", "ft", "--strategy", "default", "--epochs", "1"))
    status = tmp_path / "chief" / "text-classification" / "ft" / "status.json"
    status.write_text(json.dumps({"state": "interrupted", "epoch": 1}))
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = [
        _train(reviews, tmp_path / out, "ft", "--strategy", "multi-worker", env=_cluster_env(workers, i))
        for i, out in enumerate(["chief", "elsewhere"])
    ]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, out in zip(procs, outs):
        assert p.returncode == 2, out[-3000:]
        assert "the workers disagree on where to resume (worker 0 after epoch 1, worker 1 after epoch 0)" in out
    assert json.loads(status.read_text())["state"] == "interrupted"  # untouched


def test_multi_worker_without_tf_config(reviews, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(
        [
            "train",
            "text-classification",
            "--data",
            str(reviews),
            "--model",
            "bow",
            "--strategy",
            "multi-worker",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    assert "strategy multi-worker: TF_CONFIG is not set" in capsys.readouterr().err


def test_tpu_is_selected_and_fails_clearly_without_one(reviews, tmp_path, capsys):
    code = main(["train", "text-classification", "--data", str(reviews), "--strategy", "tpu", "--out", str(tmp_path)])
    assert code == 2
    assert "strategy tpu: no TPU found" in capsys.readouterr().err
    assert not (tmp_path / "text-classification").exists()


def test_auto_is_the_default_strategy_without_gpus():
    from edgesuite.common.distribute import make_strategy

    lines = []
    make_strategy("auto", log=lines.append)
    assert lines[0].startswith("strategy: default with 1 replica(s)")
