"""Bad input, third round (issue 45), image classification and the commands around a run: work lost or
misused (resume), checks that passed and failed later, and flags that ended in tracebacks. Each refusal is
exit status 2 with one ``error:`` line naming the file or flag, no traceback, and nothing half-written."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from PIL import Image

import edgesuite
from edgesuite.cli import main


def refused(code, capsys, *fragments) -> str:
    """The single ``error:`` line of a refused command, checked for ``fragments``."""
    out = capsys.readouterr()
    errors = [ln for ln in out.err.splitlines() if ln.startswith("error:")]
    assert code == 2, out.err
    assert len(errors) == 1, out.err
    assert "Traceback" not in out.err + out.out
    for f in fragments:
        assert f in errors[0], errors[0]
    return errors[0]


def tree(path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.fixture
def run(trained_run, tmp_path):
    """A private copy of the finished tiny run, to change."""
    return shutil.copytree(trained_run, tmp_path / "runs" / "image-classification" / "copy", symlinks=True)


# ---------------------------------------------------------------- class 2: resume
@pytest.mark.parametrize(
    "flags, named",
    [
        (["--model", "mobilenetv2", "--lr", "0.1"], "--model, --lr: a resumed run keeps the model and recipe"),
        (["--width", "0.5"], "--width:"),
        (["--name", "other"], "--name:"),
        (["--out", "elsewhere"], "--out:"),
        (["--batch-size", "4", "--epochs", "9"], "--batch-size:"),
        (["--config", "x.yaml"], "--config: not taken with --resume"),
    ],
)
def test_resume_refuses_flags_that_would_change_the_model_or_recipe(run, capsys, flags, named):
    before = {p: (run / p).read_bytes() for p in ("config.yaml", "status.json")}
    line = refused(main(["train", "image-classification", "--resume", str(run), *flags]), capsys, named)
    assert "--epochs, --time-budget" in line  # and says what a resume takes
    assert {p: (run / p).read_bytes() for p in before} == before
    assert sorted(p.name for p in run.parent.iterdir()) == ["copy"]


def test_resume_with_the_runs_own_values_is_no_change(run, capsys):
    saved = yaml.safe_load((run / "config.yaml").read_text())
    from edgesuite.api import resolve_config

    cfg = resolve_config("image-classification", {"lr": saved["lr"], "model": saved["model"]}, resume=str(run))
    assert cfg.lr == saved["lr"]


def _mark_running(run, pid: int) -> None:
    (run / "status.json").write_text(
        json.dumps({"state": "running", "pid": pid, "host": socket.gethostname(), "time": "2026-01-01T00:00:00"})
    )


def test_a_second_resume_of_a_run_a_live_process_trains_is_refused(run, capsys):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _mark_running(run, live.pid)
        before = tree(run)
        refused(
            main(["train", "image-classification", "--resume", str(run), "--epochs", "4"]),
            capsys,
            f"{run}: is being trained by process {live.pid} on {socket.gethostname()}",
        )
        assert tree(run) == before
    finally:
        live.kill()
        live.wait()


def test_the_lock_of_a_live_trainer_refuses_even_when_status_json_does_not_say_so(run, capsys):
    """Two resumes started together: the first holds train.lock (flock) before it rewrites status.json."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from edgesuite.common.runs import RunDir
        RunDir(Path({str(run)!r})).claim()
        print("held", flush=True)
        time.sleep(60)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        refused(
            main(["train", "image-classification", "--resume", str(run), "--epochs", "4"]),
            capsys,
            "is being trained by",
            "wait for it to finish or stop it",
        )
    finally:
        holder.kill()
        holder.wait()
    from edgesuite.common.runs import RunDir

    RunDir(run).claim()  # the holder died: its lock went with it
    RunDir(run).release()
    assert not (run / "train.lock").exists()


def test_a_stale_running_status_is_taken_over_and_the_change_is_recorded(run, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _mark_running(run, dead.pid)
    assert main(["train", "image-classification", "--resume", str(run), "--epochs", "4"]) == 0
    out = capsys.readouterr().out
    assert "resume changes epochs 3 -> 4 (recorded in config.yaml)" in out
    text = (run / "config.yaml").read_text()
    assert text.startswith("# resumed after epoch 3 on ") and "with epochs 3 -> 4" in text.splitlines()[0]
    cfg = yaml.safe_load(text)
    assert cfg["epochs"] == 4 and cfg["min_steps"] == 0  # config.yaml reproduces the run
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "completed" and status["epochs"] == 4
    assert not (run / "train.lock").exists()


def test_resume_and_evaluate_on_a_read_only_run_folder_are_refused(run, capsys):
    """chmod a-w: refused by the permission bits, which os.access ignores for root, so this runs as root too."""
    before = tree(run)
    os.chmod(run, 0o555)
    try:
        refused(main(["evaluate", str(run)]), capsys, f"{run}: the run folder is read-only")
        refused(
            main(["train", "image-classification", "--resume", str(run), "--epochs", "4"]),
            capsys,
            f"{run}: the run folder is read-only",
        )
    finally:
        os.chmod(run, 0o755)
    assert tree(run) == before


# ---------------------------------------------------------------- class 3: checks that passed, then failed
def _cmyk_jpeg_and_gif(folder):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
    Image.fromarray(rgb).convert("CMYK").save(folder / "trouser" / "cmyk.jpg")
    Image.fromarray(rgb).save(folder / "sneaker" / "palette.gif")


def test_channels_1_over_gif_and_cmyk_jpeg_trains_from_a_relative_data_path_read_from_anywhere(
    tiny_folder, tmp_path, monkeypatch, capsys
):
    """The check decodes as training does (decode_image itself refuses channels=1 for GIF and CMYK JPEG); the
    relative --data is stored absolute, so evaluate works from another working folder."""
    work = tmp_path / "work"
    shutil.copytree(tiny_folder, work / "data")
    _cmyk_jpeg_and_gif(work / "data")
    monkeypatch.chdir(work)
    assert (
        main(
            [
                "train",
                "image-classification",
                "--data",
                "data",
                "--channels",
                "1",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--augment",
                "none",
                "--out",
                str(tmp_path / "out"),
                "--name",
                "r",
            ]
        )
        == 0
    )
    run = tmp_path / "out" / "image-classification" / "r"
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert yaml.safe_load((run / "config.yaml").read_text())["data"] == str(work / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "metrics on test" in capsys.readouterr().out


def test_the_training_decode_turns_each_stored_layout_into_the_channels_asked(tmp_path):
    from edgesuite.common.data import decode_image_file
    from edgesuite.common.decode import read_images

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    files = {"gif": "a.gif", "cmyk": "a.jpg", "rgba": "a.png", "la": "b.png", "bmp": "a.bmp"}
    Image.fromarray(rgb).save(tmp_path / files["gif"])
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / files["cmyk"])
    Image.fromarray(rgb).convert("RGBA").save(tmp_path / files["rgba"])
    Image.fromarray(rgb[..., 0]).convert("LA").save(tmp_path / files["la"])
    Image.fromarray(rgb).save(tmp_path / files["bmp"])
    for name in files.values():
        for channels in (1, 3):
            trained = decode_image_file(str(tmp_path / name), channels).numpy()
            assert trained.shape == (20, 20, channels), name
            predicted = read_images([tmp_path / name], 20, channels)[0]  # what predict feeds the model
            assert np.abs(trained.astype(int) - predicted).max() <= 3, (name, channels)


def test_a_crash_after_the_epochs_marks_the_run_failed_not_running(tiny_folder, tmp_path, monkeypatch):
    from edgesuite.apps.image_classification.task import ImageClassificationTask

    def broken(*args, **kwargs):
        raise RuntimeError("plotting broke")

    monkeypatch.setattr(ImageClassificationTask, "plots", broken)
    with pytest.raises(RuntimeError, match="plotting broke"):
        edgesuite.train(
            "image-classification",
            data=str(tiny_folder),
            epochs=1,
            batch_size=16,
            augment="none",
            out=str(tmp_path / "out"),
            name="crash",
            log=lambda *_: None,
        )
    status = json.loads((tmp_path / "out" / "image-classification" / "crash" / "status.json").read_text())
    assert status["state"] == "failed" and "plotting broke" in status["error"]
    assert not (tmp_path / "out" / "image-classification" / "crash" / "train.lock").exists()


@pytest.mark.parametrize("where", ["folder", "csv"])
def test_a_label_with_a_newline_is_refused_at_load_time(tiny_folder, tmp_path, capsys, where):
    data = shutil.copytree(tiny_folder, tmp_path / "data")
    if where == "folder":
        (data / "trouser").rename(data / "trou\nser")
        target, named = data, f"{data}: class name 'trou\\nser' holds the control character '\\n'"
    else:
        target = tmp_path / "labels.csv"
        target.write_text(f'path,label\n{data}/trouser/0000.png,"trou\nser"\n{data}/sneaker/0000.png,sneaker\n')
        named = f"{target}:2: class name 'trou\\nser' holds the control character '\\n'"
    code = main(
        ["train", "image-classification", "--data", str(target), "--epochs", "1", "--out", str(tmp_path / "out")]
    )
    refused(code, capsys, named, "control character")
    assert not (tmp_path / "out").exists()


def test_train_val_test_folders_with_a_single_class_are_refused_as_the_flat_layout(tiny_folder, tmp_path, capsys):
    data = tmp_path / "split"
    for split in ("train", "val", "test"):
        shutil.copytree(tiny_folder / "trouser", data / split / "trouser")
    refused(
        main(["train", "image-classification", "--data", str(data), "--out", str(tmp_path / "out")]),
        capsys,
        f"{data / 'train'}: found only one class (trouser); classification needs at least two",
    )
    assert not (tmp_path / "out").exists()


def test_a_16_bit_png_is_read_alike_by_training_and_by_predict(tmp_path):
    """One convention, the high byte: TensorFlow's decoder (training) and decode.eight_bit (predict, the
    numpy path edgesuite.load takes, and the segmentation and detection loaders)."""
    from edgesuite.apps.object_detection.data import resized_image
    from edgesuite.apps.segmentation.data import _load_image
    from edgesuite.common.data import decode_and_resize
    from edgesuite.common.decode import read_images

    ramp = (np.arange(24 * 24, dtype=np.uint32).reshape(24, 24) * 113 % 65536).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I;16")
    expected = (ramp >> 8).astype(np.uint8)
    trained = decode_and_resize(str(path), 1, (24, 24)).numpy()[..., 0]
    predicted = read_images([path], 24, 1)[0, ..., 0]
    np.testing.assert_array_equal(trained, expected)
    np.testing.assert_array_equal(predicted, expected)
    np.testing.assert_array_equal(read_images([path], 24, 3)[0], np.repeat(expected[..., None], 3, -1))
    np.testing.assert_array_equal(_load_image(path), np.repeat(expected[..., None], 3, -1))
    np.testing.assert_array_equal(resized_image(path, 24), np.repeat(expected[..., None], 3, -1))


# ---------------------------------------------------------------- class 4: flags that ended in tracebacks
@pytest.mark.parametrize(
    "args, named",
    [
        (["--calibration-samples", "0"], "--calibration-samples: expected an integer >= 1, got 0"),
        (["--calibration-samples", "-5"], "--calibration-samples: expected an integer >= 1, got -5"),
        (["--eval-samples", "0"], "--eval-samples: expected an integer >= 1, got 0"),
        (["--formats", ""], "--formats: expected 'all' or a comma-separated list of formats"),
        (["--formats", " , "], "--formats: expected 'all' or a comma-separated list of formats"),
        (["--formats", "tflite_int8"], "--formats: unknown format 'tflite_int8'"),
    ],
)
def test_export_flags_are_checked_before_anything_is_written(run, capsys, args, named):
    before = tree(run)
    refused(main(["export", str(run), *args]), capsys, named)
    assert tree(run) == before  # no export/ folder, no stray metadata.json


@pytest.mark.parametrize(
    "args, named",
    [
        (["--samples", "0"], "--samples: expected an integer >= 1, got 0"),
        (["--samples", "-3"], "--samples: expected an integer >= 1, got -3"),
        (["--formats", ""], "--formats: expected 'all'"),
    ],
)
def test_benchmark_flags_are_checked_first(run, capsys, args, named):
    refused(main(["benchmark", str(run), *args]), capsys, named)


def test_an_output_folder_that_is_a_file_or_read_only_is_named(run, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    os.chmod(read_only, 0o555)
    try:
        for argv, named in (
            (
                ["tune", "image-classification", "--out", str(a_file), "--trials", "1"],
                f"--out {a_file}: is a file, expected a folder",
            ),
            (
                ["tune", "image-classification", "--out", str(a_file / "sub"), "--trials", "1"],
                f"--out {a_file / 'sub'}: {a_file} is a file",
            ),
            (
                ["tune", "image-classification", "--out", str(read_only), "--trials", "1"],
                f"--out {read_only}: the folder is read-only",
            ),
            (
                ["tune", "image-classification", "--out", str(read_only / "new"), "--trials", "1"],
                f"--out {read_only / 'new'}: the folder above it, {read_only}, is read-only",
            ),
            (["export", str(run), "--out", str(a_file)], f"--out {a_file}: is a file"),
            (["export", str(run), "--out", str(read_only)], f"--out {read_only}: the folder is read-only"),
        ):
            refused(main(argv), capsys, named)
        assert tree(read_only) == [] and a_file.read_text() == "x"
    finally:
        os.chmod(read_only, 0o755)


def test_make_canvas_counts_of_zero_are_refused(tmp_path, capsys):
    for flag in ("--max-items", "--train-items"):
        refused(
            main(["data", "make-canvas", "--out", str(tmp_path / "c"), "--format", "yolo", flag, "0"]),
            capsys,
            f"{flag}: expected an integer >= 1, got 0",
        )
    assert not (tmp_path / "c").exists()
