"""--model auto (the default): linear, bow and cnn each train as a run of their own, the best validation macro F1
is kept as the run, and a cut run resumed skips the candidates that finished."""

import json
import os

import yaml

from edgesuite.cli import main

FLAGS = [
    "--epochs",
    "2",
    "--vocab-size",
    "400",
    "--max-length",
    "24",
    "--bigram-buckets",
    "200",
    "--embed-dim",
    "8",
    "--hidden",
    "8",
    "--precision",
    "float32",
    "--seed",
    "2",
]


def test_auto_keeps_the_best_validation_candidate_and_a_cut_run_resumes(text_csv, tmp_path):
    import edgesuite

    out = tmp_path / "out"
    assert (
        main(["train", "text-classification", "--data", str(text_csv), *FLAGS, "--out", str(out), "--name", "auto"])
        == 0
    )
    run = out / "text-classification" / "auto"
    metrics = json.loads((run / "metrics.json").read_text())
    table = metrics["model_selection"]
    assert [r["model"] for r in table["candidates"]] == ["linear", "bow", "cnn"] and table["by"] == "val_macro_f1"
    scores = [r["val_macro_f1"] for r in table["candidates"]]
    chosen = table["candidates"][scores.index(max(scores))]  # the first of the best: the cheaper on a tie
    assert table["chosen"] == chosen["model"]
    child = run / "candidates" / "text-classification" / chosen["model"]
    assert json.loads((child / "metrics.json").read_text())["macro_f1"] == metrics["macro_f1"]
    # the run is the winner's: its config names the model (--config trains it again), its files load
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"] == chosen["model"] and config["out"] == str(out) and config["name"] == "auto"
    assert json.loads((run / "info.json").read_text())["model"] == chosen["model"]
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert (out / "text-classification" / "latest").resolve() == run.resolve()
    assert len(edgesuite.open_run(run).predict(["a fine film", "a dull one"])) == 2

    # cut during the last candidate: the others are kept as they are, the cut one trains again
    kept = {
        m: os.stat(run / "candidates" / "text-classification" / m / "model.keras").st_mtime_ns
        for m in ("linear", "bow")
    }
    cnn = run / "candidates" / "text-classification" / "cnn"
    for name in ("model.keras", "metrics.json", "selection.json"):
        (cnn / name).unlink()
    (cnn / "status.json").write_text(json.dumps({"state": "running", "pid": 2**22 + 7, "host": os.uname().nodename}))
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": 2**22 + 7, "host": os.uname().nodename}))
    (run / "config.yaml").write_text(yaml.safe_dump({**config, "model": "auto"}, sort_keys=False))
    assert main(["train", "text-classification", "--resume", str(run)]) == 0
    for m, mtime in kept.items():
        assert os.stat(run / "candidates" / "text-classification" / m / "model.keras").st_mtime_ns == mtime
    assert (cnn / "model.keras").exists()
    again = json.loads((run / "metrics.json").read_text())["model_selection"]
    assert [r["model"] for r in again["candidates"]] == ["linear", "bow", "cnn"]
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
