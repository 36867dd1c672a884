"""A damaged file in a run folder or beside an exported model: every command that reads it ends with one
``error: <file>: <what is wrong>; <what to do>`` line and exit status 2, no traceback, nothing written.

Each damage is made on a copy of the shared tiny run (``trained_run``); the commands run in this process
(``edgesuite.cli.main``), the last test once through a real ``python -m edgesuite`` for the whole output.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

import edgesuite
from edgesuite.cli import main
from edgesuite.common.errors import UserInputError

RANDOM = bytes(range(256)) * 8  # not UTF-8 from byte 128 on


def _cut(path, size):
    path.write_bytes(path.read_bytes()[:size])


def _edit_json(path, change):
    value = json.loads(path.read_text())
    change(value)
    path.write_text(json.dumps(value))


def _without_task(run):
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text("".join(ln for ln in text.splitlines(True) if not ln.startswith("task:")))


CONFIG = {
    "cut short": lambda run: _cut(run / "config.yaml", 25),
    "random bytes": lambda run: (run / "config.yaml").write_bytes(RANDOM),
    "invalid YAML": lambda run: (run / "config.yaml").write_text("task: image-classification\nepochs: [3\n"),
    "empty": lambda run: (run / "config.yaml").write_text(""),
    "a list": lambda run: (run / "config.yaml").write_text("- task\n- image-classification\n"),
    "without task": _without_task,
    "unknown task": lambda run: (run / "config.yaml").write_text(
        (run / "config.yaml").read_text().replace("task: image-classification", "task: pose-estimation")
    ),
    "a folder": lambda run: ((run / "config.yaml").unlink(), (run / "config.yaml").mkdir()),
}
INFO = {
    "cut short": lambda run: _cut(run / "info.json", 30),
    "random bytes": lambda run: (run / "info.json").write_bytes(RANDOM),
    "empty": lambda run: (run / "info.json").write_text(""),
    "a list": lambda run: (run / "info.json").write_text("[1, 2]"),
    "without class_names": lambda run: _edit_json(run / "info.json", lambda i: i.pop("class_names")),
    "class_names a string": lambda run: _edit_json(run / "info.json", lambda i: i.update(class_names="abc")),
    "of another task": lambda run: _edit_json(run / "info.json", lambda i: i.update(task="segmentation")),
    "missing": lambda run: (run / "info.json").unlink(),
}
STATE = {
    "cut short": lambda run: _cut(run / "checkpoints" / "state.json", 40),
    "random bytes": lambda run: (run / "checkpoints" / "state.json").write_bytes(RANDOM),
    "empty": lambda run: (run / "checkpoints" / "state.json").write_text(""),
    "a list": lambda run: (run / "checkpoints" / "state.json").write_text("[]"),
    "without epoch": lambda run: _edit_json(run / "checkpoints" / "state.json", lambda s: s.pop("epoch")),
    "epoch a string": lambda run: _edit_json(run / "checkpoints" / "state.json", lambda s: s.update(epoch="3")),
    "history not a list": lambda run: _edit_json(run / "checkpoints" / "state.json", lambda s: s.update(history=5)),
    "checkpoint outside": lambda run: _edit_json(
        run / "checkpoints" / "state.json", lambda s: s.update(checkpoint="../model.keras")
    ),
    "checkpoint deleted": lambda run: (run / "checkpoints" / "epoch-3.keras").unlink(),
    "checkpoint cut to 100 kB": lambda run: _cut(run / "checkpoints" / "epoch-3.keras", 100_000),
}
MODEL = {
    "cut to 100 kB": lambda run: _cut(run / "model.keras", 100_000),
    "random bytes": lambda run: (run / "model.keras").write_bytes(RANDOM),
    "empty": lambda run: (run / "model.keras").write_bytes(b""),
    "a folder": lambda run: ((run / "model.keras").unlink(), (run / "model.keras").mkdir()),
}

COMMANDS = {  # each returns its exit status
    "export": lambda run, image: main(["export", str(run), "--formats", "keras"]),
    "train --resume": lambda run, image: main(["train", "image-classification", "--resume", str(run)]),
    "predict": lambda run, image: main(["predict", str(run), image]),
    "evaluate": lambda run, image: main(["evaluate", str(run)]),
    "load(RUN)": lambda run, image: _load(run, image),
}


@pytest.fixture(scope="module")
def image(tiny_folder):
    return str(sorted(tiny_folder.rglob("*.png"))[0])


@pytest.fixture
def run(trained_run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(trained_run, dst)
    return dst


def _tree(run) -> dict:
    """Every path under the run with its bytes (files) or None (folders): what a refused command must not change."""
    return {
        str(p.relative_to(run)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(run.rglob("*"))
        if not p.is_relative_to(run / "tensorboard")
    }


def _temp_entries() -> set:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("edgesuite", ".edgesuite"))}


def _one_error_line(code, capsys, path) -> str:
    out, err = capsys.readouterr()
    assert code == 2, out + err
    assert "Traceback" not in out + err
    lines = [ln for ln in (out + err).splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, out + err
    assert lines[0].startswith(f"error: {path}: "), lines[0]
    assert re.fullmatch(r"error: \S+: [^;]+(\(.*\))?[^;]*; .+", lines[0]), lines[0]  # what is wrong; what to do
    return lines[0]


def _refused(run, damage, command, capsys, path) -> str:
    damage(run)
    before, temp = _tree(run), _temp_entries()
    line = _one_error_line(command(), capsys, path)
    assert _tree(run) == before  # nothing half-written: no export/, no metadata.json, status.json as it was
    assert _temp_entries() <= temp
    return line


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", CONFIG)
def test_a_damaged_config_yaml(run, image, capsys, kind, command):
    _refused(run, CONFIG[kind], lambda: COMMANDS[command](run, image), capsys, run / "config.yaml")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", INFO)
def test_a_damaged_info_json(run, image, capsys, kind, command):
    if kind == "missing" and command == "train --resume":
        pytest.skip("a run from before info.json resumes without one (nothing to compare the data with)")
    line = _refused(run, INFO[kind], lambda: COMMANDS[command](run, image), capsys, run / "info.json")
    assert "restore info.json from a copy, or train the run again" in line


@pytest.mark.parametrize("kind", STATE)
def test_a_damaged_resume_point(run, capsys, kind):
    path = (
        run
        / "checkpoints"
        / ("epoch-3.keras" if kind.startswith("checkpoint ") and kind != "checkpoint outside" else "state.json")
    )
    line = _refused(run, STATE[kind], lambda: COMMANDS["train --resume"](run, None), capsys, path)
    assert "train again without --resume" in line


@pytest.mark.parametrize("command", ["export", "predict", "evaluate", "load(RUN)", "load(RUN/model.keras)"])
@pytest.mark.parametrize("kind", MODEL)
def test_a_damaged_model_keras(run, image, capsys, kind, command):
    call = (
        (lambda: _load(run / "model.keras", image))
        if command == "load(RUN/model.keras)"
        else (lambda: COMMANDS[command](run, image))
    )
    line = _refused(run, MODEL[kind], call, capsys, run / "model.keras")
    assert "--resume" in line  # what the run can still do: write it again from its last checkpoint
    assert command == "load(RUN/model.keras)" or "from the run's last checkpoint (epoch 3)" in line


def test_the_remedy_for_a_damaged_model_keras_works(run, image, capsys):
    """``train --resume`` of the finished run writes model.keras again from its last checkpoint."""
    _cut(run / "model.keras", 100_000)
    assert main(["predict", str(run), image]) == 2
    capsys.readouterr()
    assert main(["train", "image-classification", "--resume", str(run)]) == 0
    assert main(["predict", str(run), image, "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["input"] == image


# ---- metadata.json beside an exported model, the export report ------------------------------------------------


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    run = tmp_path_factory.mktemp("damaged-exports") / "run"
    shutil.copytree(trained_run, run)
    assert main(["export", str(run), "--formats", "keras,tflite,onnx", "--calibration-samples", "16"]) == 0
    return run


@pytest.fixture
def export_copy(exported, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(exported, dst)
    return dst


def _metadata(change):
    return lambda run: _edit_json(run / "export" / "metadata.json", change)


METADATA = {
    "random bytes": lambda run: (run / "export" / "metadata.json").write_bytes(RANDOM),
    "cut short": lambda run: _cut(run / "export" / "metadata.json", 50),
    "empty": lambda run: (run / "export" / "metadata.json").write_text(""),
    "a list": lambda run: (run / "export" / "metadata.json").write_text("[]"),
    "without class_names": _metadata(lambda m: m.pop("class_names")),
    "without input": _metadata(lambda m: m.pop("input")),
    "class_names of numbers": _metadata(lambda m: m.update(class_names=[1, 2, 3])),
    "of another task": _metadata(lambda m: m.update(task="segmentation", kind="segmenter")),
    "of another run": _metadata(lambda m: m.update(class_names=["cat", "dog"])),
}
READERS = {
    "predict FILE": lambda run, image: main(["predict", str(run / "export" / "model_float32.tflite"), image]),
    "load(.onnx)": lambda run, image: _load(run / "export" / "model.onnx", image),
    "load(.keras)": lambda run, image: _load(run / "export" / "model.keras", image),
    "benchmark": lambda run, image: main(["benchmark", str(run), "--formats", "tflite", "--samples", "1"]),
}


def _load(path, image) -> int:
    """edgesuite.load as a program calls it: a UserInputError, printed the way the CLI prints one."""
    try:
        edgesuite.load(str(path)).predict([image])
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", METADATA)
def test_a_damaged_metadata_json(export_copy, image, capsys, kind, reader):
    METADATA[kind](export_copy)
    before = _tree(export_copy)
    line = _one_error_line(READERS[reader](export_copy, image), capsys, export_copy / "export" / "metadata.json")
    assert "export the run again" in line
    assert _tree(export_copy) == before


@pytest.mark.parametrize("kind", ["random bytes", "a list", "without formats"])
def test_a_damaged_export_report_for_benchmark(export_copy, capsys, kind):
    report = export_copy / "export" / "export_report.json"
    {
        "random bytes": lambda: report.write_bytes(RANDOM),
        "a list": lambda: report.write_text("[]"),
        "without formats": lambda: _edit_json(report, lambda r: r.pop("formats")),
    }[kind]()
    before = _tree(export_copy)
    _one_error_line(main(["benchmark", str(export_copy), "--formats", "tflite", "--samples", "1"]), capsys, report)
    assert _tree(export_copy) == before


@pytest.mark.parametrize(
    "path, damage, argv",
    [
        ("config.yaml", CONFIG["random bytes"], lambda run, image: ["export", str(run)]),
        (
            "checkpoints/state.json",
            STATE["cut short"],
            lambda run, image: ["train", "image-classification", "--resume", str(run)],
        ),
        ("model.keras", MODEL["cut to 100 kB"], lambda run, image: ["predict", str(run), image]),
        (
            "export/metadata.json",
            METADATA["of another task"],
            lambda run, image: ["predict", str(run / "export" / "model_float32.tflite"), image],
        ),
    ],
)
def test_the_command_line_prints_one_line(export_copy, image, path, damage, argv):
    """The whole output of a real process: one ``error:`` line naming the file, exit 2, no traceback."""
    damage(export_copy)
    proc = subprocess.run(
        [sys.executable, "-m", "edgesuite", *argv(export_copy, image)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {export_copy / path}: "), proc.stderr
