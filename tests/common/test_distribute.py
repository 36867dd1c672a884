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

import numpy as np
import pytest

from edgesuite.cli import main

# bow without dropout under plain SGD: a model whose every step is deterministic, so the strategies must agree
RECIPE = ["--model", "bow", "--epochs", "2", "--batch-size", "32", "--vocab-size", "400", "--max-length", "24",
          "--bigram-buckets", "300", "--embed-dim", "8", "--optimizer", "sgd", "--lr", "0.5", "--schedule",
          "constant", "--no-shuffle", "--precision", "float32", "--weight-decay", "0", "--dropout", "0",
          "--class-weight", "none", "--seed", "3"]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    from edgesuite.common.datasets import rotten_tomatoes as rt

    rows, seen = [], {}
    with rt.open_text() as f:
        for row in csv.DictReader(f):
            if row["text"].strip() and seen.get(row["category"], 0) < 64:
                seen[row["category"]] = seen.get(row["category"], 0) + 1
                rows.append((row["text"][:200], row["category"]))
    path = tmp_path_factory.mktemp("dist") / "reviews.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("text", "label"), *rows])
    return path


def _train(data, out, name, *extra, env=None, timeout=300):
    cmd = [sys.executable, "-m", "edgesuite", "train", "text-classification", "--data", str(data), *RECIPE,
           "--out", str(out), "--name", name, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})


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


def test_mirrored_on_two_logical_cpus_matches_the_default_strategy(reviews, tmp_path):
    single = _finish(_train(reviews, tmp_path, "default", "--strategy", "default"))
    mirrored = _finish(_train(reviews, tmp_path, "mirrored", "--strategy", "mirrored", "--devices", "2"))
    assert "strategy: default with 1 replica(s)" in single
    assert "strategy: mirrored with 2 replica(s) on /device:CPU:0, /device:CPU:1" in mirrored
    assert "steps per epoch of 32 (16 per replica)" in mirrored
    a, b = _weights(tmp_path / "text-classification" / "default"), _weights(tmp_path / "text-classification" / "mirrored")
    assert max(float(np.abs(x - y).max()) for x, y in zip(a, b)) < 1e-5
    loss = [[float(r["loss"]) for r in csv.DictReader(open(tmp_path / "text-classification" / n / "history.csv"))]
            for n in ("default", "mirrored")]
    np.testing.assert_allclose(loss[0], loss[1], rtol=1e-5)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_train_in_step_and_only_the_chief_writes(reviews, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    try:
        for i in range(2):
            tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            procs.append(_train(reviews, tmp_path / "out", "mw", "--strategy", "multi-worker",
                                env={"TF_CONFIG": tf_config}))
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
    single = _finish(_train(reviews, tmp_path / "single", "one", "--strategy", "default"))
    assert re.findall(r"loss: ([0-9.]+)", single)[:2] == re.findall(r"loss: ([0-9.]+)", outs[0])[:2]


def test_multi_worker_without_tf_config(reviews, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", "text-classification", "--data", str(reviews), "--strategy", "multi-worker",
                 "--out", str(tmp_path)])
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
