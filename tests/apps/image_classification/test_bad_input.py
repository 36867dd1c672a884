"""Each bad input: one clear message naming the file/row/key, exit status 2, no run left behind."""

import shutil

import pytest
from PIL import Image

from edgesuite.cli import main


def run_dirs(out):
    """Run directories left under an output root (there must be none after a refused input)."""
    root = out / "image-classification"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def _train(tmp_path, *args):
    return main(
        ["train", "image-classification", "--epochs", "1", "--batch-size", "16", "--out", str(tmp_path / "out"), *args]
    )


def _assert_failed_cleanly(code, capsys, *fragments, tmp_path=None):
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ")
    for f in fragments:
        assert f in err, err
    if tmp_path is not None:
        assert run_dirs(tmp_path / "out") == []


@pytest.fixture
def folder(tiny_folder, tmp_path):
    dst = tmp_path / "data"
    shutil.copytree(tiny_folder, dst)
    return dst


def test_empty_class_folder(folder, tmp_path, capsys):
    (folder / "empty-class").mkdir()
    _assert_failed_cleanly(
        _train(tmp_path, "--data", str(folder)),
        capsys,
        f"{folder / 'empty-class'}: class folder holds no images",
        tmp_path=tmp_path,
    )


def test_non_image_file_as_data(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    _assert_failed_cleanly(
        _train(tmp_path, "--data", str(notes)),
        capsys,
        f"{notes}: expected a folder of class sub-folders, a .csv",
        tmp_path=tmp_path,
    )


def test_corrupt_image_is_skipped_with_a_count_or_fatal_when_strict(folder, tmp_path, capsys):
    bad = folder / "trouser" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    code = _train(tmp_path, "--data", str(folder), "--strict")
    _assert_failed_cleanly(code, capsys, f"{bad}: not a readable image", tmp_path=tmp_path)
    from edgesuite.apps.image_classification.config import Config
    from edgesuite.apps.image_classification.data import load_splits

    splits = load_splits(Config(data=str(folder)))
    assert "warning: skipped 1 unreadable images" in capsys.readouterr().err
    assert len(splits.train) + len(splits.val) + len(splits.test) == 120


def test_csv_row_naming_a_missing_file(folder, tmp_path, capsys):
    csv = tmp_path / "labels.csv"
    csv.write_text(f"path,label\n{folder}/trouser/0000.png,trouser\nnope/missing.png,sneaker\n")
    _assert_failed_cleanly(
        _train(tmp_path, "--data", str(csv)),
        capsys,
        f"{csv}:3: image file 'nope/missing.png' does not exist",
        tmp_path=tmp_path,
    )


def test_image_too_small(folder, tmp_path, capsys):
    Image.new("L", (4, 4)).save(folder / "sneaker" / "tiny.png")
    _assert_failed_cleanly(
        _train(tmp_path, "--data", str(folder)),
        capsys,
        f"{folder / 'sneaker' / 'tiny.png'}: image is 4x4 pixels, smaller than the minimum 8x8",
        tmp_path=tmp_path,
    )


def test_unknown_config_key(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 2\nlearning_rate: 0.1\n")
    _assert_failed_cleanly(
        _train(tmp_path, "--config", str(cfg)), capsys, f"{cfg}: unknown key 'learning_rate'", tmp_path=tmp_path
    )


def test_negative_epoch_count(tmp_path, capsys):
    _assert_failed_cleanly(
        main(["train", "image-classification", "--epochs", "-3", "--out", str(tmp_path / "out")]),
        capsys,
        "epochs: expected an integer >= 1, got -3",
        tmp_path=tmp_path,
    )


def test_label_not_seen_in_training(trained_run, tiny_folder, tmp_path, capsys):
    other = tmp_path / "eval"
    shutil.copytree(tiny_folder, other)
    shutil.copytree(other / "sneaker", other / "sandal")
    _assert_failed_cleanly(
        main(["evaluate", str(trained_run), "--data", str(other)]),
        capsys,
        f"{other / 'sandal'}: label 'sandal' was not seen in training; training labels: sneaker, t-shirt-top, trouser",
    )


def test_predict_on_a_non_image_file(trained_run, tmp_path, capsys):
    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    _assert_failed_cleanly(main(["predict", str(trained_run), str(notes)]), capsys, f"{notes}: not a readable image")


def _pillow_only(kind: str, path):
    """Files Pillow reads and tf.io.decode_image (what the pipeline decodes with) does not."""
    import numpy as np

    rng = np.random.default_rng(0)
    if kind == "tiff-named-png":
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(path, format="TIFF")
    elif kind == "1-bit-bmp":
        Image.fromarray(rng.random((28, 28)) > 0.5).convert("1").save(path.with_suffix(".bmp"))
        return path.with_suffix(".bmp")
    elif kind == "png-cut-before-iend":
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:-12])
    return path


@pytest.mark.parametrize(
    "kind, why",
    [
        ("tiff-named-png", "Unknown image file format"),
        ("1-bit-bmp", "Number of channels"),
        ("png-cut-before-iend", "Invalid PNG data"),
    ],
)
def test_a_file_pillow_reads_but_the_pipeline_cannot_decode_is_found_up_front(folder, tmp_path, capsys, kind, why):
    bad = _pillow_only(kind, folder / "trouser" / "scraped.png")
    _assert_failed_cleanly(
        _train(tmp_path, "--data", str(folder), "--strict"),
        capsys,
        f"{bad}: TensorFlow cannot decode it ({why}",
        tmp_path=tmp_path,
    )
    from edgesuite.apps.image_classification.config import Config
    from edgesuite.apps.image_classification.data import load_splits

    splits = load_splits(Config(data=str(folder)))
    assert str(bad) not in splits.train.paths + splits.val.paths + splits.test.paths
    assert "skipped 1 unreadable images" in capsys.readouterr().err


def test_an_image_above_the_pixel_limit_is_named_for_predict_and_train(
    trained_run, folder, tmp_path, capsys, monkeypatch
):
    """The limit (2**28 pixels) stands in for a 17,000 x 17,000 scan at 60 x 60 here; an image above Pillow's
    own decompression-bomb limit but below edgesuite's is read."""
    from edgesuite.common import decode

    big = folder / "trouser" / "scan.png"
    Image.new("L", (60, 60), 128).save(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's limit below the image: still read
    assert decode.read_images([str(big)], 28, 1).shape == (1, 28, 28, 1)
    monkeypatch.setattr(decode, "MAX_IMAGE_PIXELS", 3000)
    limit = "60x60 = 3,600 pixels, above the 3,000 that edgesuite reads"
    _assert_failed_cleanly(main(["predict", str(trained_run), str(big)]), capsys, f"{big}: {limit}")
    _assert_failed_cleanly(
        _train(tmp_path, "--data", str(folder), "--strict"), capsys, f"{big}: {limit}", tmp_path=tmp_path
    )


def test_an_unknown_flag_suggests_the_flag_meant(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "image-classification", "--learning-rate", "0.01"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "unrecognized arguments: --learning-rate 0.01 (did you mean --lr?)" in err.splitlines()[-1]
    with pytest.raises(SystemExit):
        main(["export", "RUN", "--formts", "all"])
    assert "(did you mean --formats?)" in capsys.readouterr().err


def test_random_bytes_as_a_tflite_file_say_what_they_are(tmp_path, capsys):
    model = tmp_path / "model.tflite"
    model.write_bytes(bytes(range(256)) * 12)
    _assert_failed_cleanly(
        main(["predict", str(model), str(tmp_path)]),
        capsys,
        f"{model}: not a loadable .tflite model (not a TFLite flatbuffer; reading it failed with",
    )
    assert "(error)" not in capsys.readouterr().err
