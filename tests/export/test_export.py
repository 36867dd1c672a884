"""Every format written, loaded back from disk and checked against the Keras model."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import edgesuite
from edgesuite.cli import main
from edgesuite.export.formats import FORMATS

# the files in edgesuite's own layout; model_mediapipe*.tflite are the Task's (a greyscale model has none)
PLAIN = {n: f for n, f in FORMATS.items() if f.writer != "mediapipe"}
RUNNABLE_HERE = [f for f in PLAIN.values() if f.runtime != "coreml" or sys.platform == "darwin"]


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory):
    """The shared tiny run exported to every format (into a copy, so other tests see a clean run)."""
    run = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(trained_run, run)
    assert main(["export", str(run), "--formats", "all", "--calibration-samples", "64", "--eval-samples", "48"]) == 0
    return run


@pytest.fixture(scope="session")
def samples(tiny_folder):
    return sorted(str(p) for p in tiny_folder.rglob("*.png"))[::10]


def _report(run):
    return json.loads((run / "export" / "export_report.json").read_text())


def test_every_format_is_written_verified_and_reported(exported):
    report = _report(exported)
    assert [r["format"] for r in report["formats"]] == list(FORMATS)
    rows = {r["format"]: r for r in report["formats"]}
    # every format, the MediaPipe files too: a greyscale classifier's take RGB and make it grey inside
    assert all(r["status"] == "ok" for r in rows.values() if FORMATS[r["format"]].writer != "web"), rows
    assert all("1-channel input" in rows[name]["mediapipe"] for name in PLAIN if name.startswith("tflite"))
    for name, fmt in FORMATS.items():
        assert (exported / "export" / fmt.filename).exists() or rows[name]["status"] == "skipped", name
    rows = {r["format"]: r for r in report["formats"]}
    for name in ("savedmodel", "keras", "h5", "tflite", "onnx"):
        assert rows[name]["max_abs_diff"] <= 1e-4
    assert rows["tflite-fp16"]["max_abs_diff"] <= 1e-2
    assert rows["tflite-int8"]["top1_agreement"] >= 0.98
    assert rows["tflite-int8"]["size_mb"] <= 0.3 * rows["tflite"]["size_mb"]
    assert "| tflite-int8 | ok |" in (exported / "export" / "export_report.md").read_text()
    assert not list((exported / "export").glob(".*partial*"))  # nothing half-written left
    web = exported / "export" / "web" / "model.onnx"  # the page's model is model.onnx, converted once for both
    assert web.read_bytes() == (exported / "export" / "model.onnx").read_bytes()


def test_the_contract_cycle(exported, tmp_path):
    from tests.cycle import check_cycle

    check_cycle("image-classification", exported, _report(exported), 48, tmp_path)


def test_tflite_files_use_builtin_ops_only_and_int8_is_uint8_in_and_out(exported):
    from ai_edge_litert.interpreter import Interpreter

    from edgesuite.export.tflite import op_names

    for fmt in PLAIN.values():
        if fmt.runtime == "tflite":
            ops = op_names((exported / "export" / fmt.filename).read_bytes())
            assert ops and not [op for op in ops if op.startswith("custom:")], (fmt.name, ops)
    it = Interpreter(str(exported / "export" / "model_int8.tflite"))
    assert it.get_input_details()[0]["dtype"] == np.uint8 and it.get_output_details()[0]["dtype"] == np.uint8
    assert "CONV_2D" in op_names((exported / "export" / "model_int8.tflite").read_bytes())


def test_savedmodel_has_a_named_signature_over_uint8_images(exported):
    import tensorflow as tf

    sig = tf.saved_model.load(str(exported / "export" / "savedmodel")).signatures["serving_default"]
    spec = sig.structured_input_signature[1]["image"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 28, 28, 1]
    assert list(sig.structured_outputs) == ["probabilities"]
    assert (exported / "export" / "savedmodel" / "assets" / "edgesuite_metadata.json").exists()


def _plain_process(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_keras_and_h5_load_with_plain_keras_in_a_fresh_process(exported):
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1), dtype=np.uint8)
    np.save(exported / "x.npy", x)
    expected = edgesuite.load(exported / "export" / "model.keras").predict_raw(x)
    for name in ("model.keras", "model.h5"):
        code = (
            f"import sys, json, numpy as np, keras\n"
            f"m = keras.models.load_model({str(exported / 'export' / name)!r})\n"
            f"assert not any(k.startswith('edgesuite') for k in sys.modules)\n"
            f"print(json.dumps(np.asarray(m(np.load({str(exported / 'x.npy')!r}))).tolist()))"
        )
        np.testing.assert_allclose(np.array(json.loads(_plain_process(code))), expected, atol=1e-5)


def test_each_tflite_runs_in_plain_litert_without_tensorflow(exported):
    x = np.random.default_rng(1).integers(0, 256, (1, 28, 28, 1), dtype=np.uint8)
    np.save(exported / "x1.npy", x)
    reference = edgesuite.load(exported / "export" / "model.keras").predict_raw(x)
    for fmt in PLAIN.values():
        if fmt.runtime != "tflite":
            continue
        code = (
            "import sys, json, numpy as np\n"
            "from ai_edge_litert.interpreter import Interpreter\n"
            f"it = Interpreter({str(exported / 'export' / fmt.filename)!r}); it.allocate_tensors()\n"
            "i, o = it.get_input_details()[0], it.get_output_details()[0]\n"
            f"it.set_tensor(i['index'], np.load({str(exported / 'x1.npy')!r})); it.invoke()\n"
            "y = it.get_tensor(o['index']).astype(np.float32); s, z = o['quantization']\n"
            "y = (y - z) * s if s else y\n"
            "assert 'tensorflow' not in sys.modules and not any(k.startswith('edgesuite') for k in sys.modules)\n"
            "print(json.dumps(y.tolist()))"
        )
        out = np.array(json.loads(_plain_process(code)))
        assert out.argmax() == reference.argmax(), fmt.name
        assert np.abs(out - reference).max() <= {"float32": 1e-4, "float16": 1e-2}.get(fmt.precision, 0.1), fmt.name


def test_load_and_predict_of_tflite_and_onnx_import_no_tensorflow(exported, samples):
    """A board has numpy, Pillow and LiteRT or onnxruntime: edgesuite.load must not need TensorFlow there."""
    expected = [r["label"] for r in edgesuite.load(exported / "export" / "model_float32.tflite").predict(samples)]
    for name in ("model_float32.tflite", "model_int8.tflite", "model.onnx"):
        code = (
            "import sys, json, edgesuite\n"
            f"got = edgesuite.load({str(exported / 'export' / name)!r}).predict({[str(s) for s in samples]!r})\n"
            "heavy = sorted(m for m in ('tensorflow', 'keras', 'tensorflow_text') if m in sys.modules)\n"
            "assert not heavy, heavy\n"
            "print(json.dumps([r['label'] for r in got]))"
        )
        got = json.loads(_plain_process(code))
        assert len(got) == len(expected) and (got == expected or "int8" in name), name


@pytest.mark.parametrize("fmt", RUNNABLE_HERE, ids=lambda f: f.name)
def test_load_predicts_decoded_labels_from_every_format(exported, samples, fmt):
    expected = [r["label"] for r in edgesuite.open_run(str(exported)).predict(samples)]
    predictor = edgesuite.load(exported / "export" / fmt.filename)
    got = predictor.predict(samples)
    assert [r["label"] for r in got] == expected or fmt.precision in ("int8", "dynamic")
    assert all(0 <= r["probability"] <= 1 and r["label"] in ("sneaker", "t-shirt-top", "trouser") for r in got)


@pytest.mark.parametrize("name", ["model_int8.tflite", "model.onnx", "model.h5", "model.keras"])
def test_metadata_travels_inside_the_file(exported, samples, tmp_path, name):
    lonely = tmp_path / name  # no metadata.json beside it
    shutil.copy(exported / "export" / name, lonely)
    assert edgesuite.load(lonely).metadata["class_names"] == ["sneaker", "t-shirt-top", "trouser"]
    assert edgesuite.load(lonely).predict(samples[:2])


def test_coreml_spec_carries_labels_and_metadata(exported):
    from edgesuite.export.coreml import check_spec

    spec = check_spec(
        exported / "export" / "model.mlpackage", json.loads((exported / "export" / "metadata.json").read_text())
    )
    assert spec["problems"] == [] and spec["labels"] == 3 and spec["ops"] > 5


@pytest.mark.skipif(sys.platform != "darwin", reason="coremltools runs Core ML predictions only on macOS")
def test_coreml_predicts_like_keras_on_macos(exported, samples):
    expected = [r["label"] for r in edgesuite.load(exported / "export" / "model.keras").predict(samples)]
    assert [r["label"] for r in edgesuite.load(exported / "export" / "model.mlpackage").predict(samples)] == expected


def test_predict_cli_on_an_exported_file(exported, samples, capsys):
    assert main(["predict", str(exported / "export" / "model_int8.tflite"), samples[0], "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["input"] == samples[0] and result["label"] in ("sneaker", "t-shirt-top", "trouser")


def test_benchmark_prints_a_row_per_format_with_the_keras_reference(exported, capsys):
    assert main(["benchmark", str(exported), "--formats", "tflite,onnx", "--samples", "3"]) == 0
    rows = json.loads((exported / "export" / "benchmark.json").read_text())["rows"]
    assert [r["format"] for r in rows] == ["keras (reference)", "tflite", "onnx"]
    assert all(r["median_ms"] > 0 and r["median_ms_1t"] > 0 and r["size_mb"] > 0 for r in rows)
    assert "x keras" in capsys.readouterr().out


def test_benchmark_without_the_exported_keras_file_says_why_the_reference_is_not_timed(exported, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported, run)
    (run / "export" / "model.keras").unlink()  # as after `edgesuite export RUN --formats tflite-int8`
    assert main(["benchmark", str(run), "--formats", "tflite", "--samples", "3"]) == 0
    reference, tflite = json.loads((run / "export" / "benchmark.json").read_text())["rows"]
    assert reference["status"].startswith("not timed: the export has no model.keras") and "median_ms" not in reference
    assert tflite["status"] == "ok" and tflite["median_ms"] > 0 and "latency_vs_keras" not in tflite


# ---- bad input ---------------------------------------------------------------------------


def _fails(code, capsys, fragment):
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err, err


def test_run_without_a_model(trained_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "model.keras").unlink()
    _fails(main(["export", str(run)]), capsys, f"{run}: the run has no model.keras to export")


def test_unknown_format_name(trained_run, capsys):
    _fails(
        main(["export", str(trained_run), "--formats", "tflite,pmml"]),
        capsys,
        "--formats: unknown format 'pmml'; known: all, savedmodel",
    )


def test_unwritable_output_folder(trained_run, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    _fails(
        main(["export", str(trained_run), "--out", str(blocker / "sub")]),
        capsys,
        f"--out {blocker / 'sub'}: {blocker} is a file, so no folder can be made there",
    )


@pytest.mark.parametrize("name", ["broken.tflite", "broken.onnx"])
def test_corrupt_model_file(exported, samples, tmp_path, capsys, name):
    bad = tmp_path / name
    bad.write_bytes(b"this is not a model" * 10)
    shutil.copy(exported / "export" / "metadata.json", tmp_path / "metadata.json")
    _fails(main(["predict", str(bad), samples[0]]), capsys, f"{bad}: not a loadable")


def test_small_calibration_set_warns_and_a_failed_format_leaves_nothing(trained_run, tmp_path, capsys, monkeypatch):
    from edgesuite.export import tflite

    out = tmp_path / "out"
    assert (
        main(
            [
                "export",
                str(trained_run),
                "--formats",
                "tflite-int8",
                "--calibration-samples",
                "100000",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "asked for 100000 calibration samples, the training split has" in capsys.readouterr().out
    assert (out / "model_int8.tflite").exists()

    def broken(ctx, precision):
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(tflite, "convert", broken)
    assert main(["export", str(trained_run), "--formats", "tflite", "--out", str(out)]) == 1
    assert not (out / "model_float32.tflite").exists() and not list(out.glob(".*partial*"))
    row = next(r for r in json.loads((out / "export_report.json").read_text())["formats"] if r["format"] == "tflite")
    assert row["status"] == "failed" and "converter exploded" in row["note"]


def test_a_mixed_precision_run_exports_to_float_tflite(tiny_folder, tmp_path):
    """bf16 ops in the trained graph would need Flex kernels: export rebuilds under float32 first."""
    run = edgesuite.train(
        "image-classification",
        data=str(tiny_folder),
        epochs=1,
        batch_size=16,
        precision="mixed_bfloat16",
        out=str(tmp_path),
        augment="none",
    )
    report = run.export(formats=["tflite", "tflite-int8"], calibration_samples=16)
    assert report["ok"], report["formats"]
    from edgesuite.export.tflite import op_names

    assert not [op for op in op_names((run.path / "export" / "model_float32.tflite").read_bytes()) if "custom" in op]


def test_a_keras_runtime_called_again_and_again_compiles_and_gives_the_eager_outputs():
    """A decoding loop calls the Keras reference once per token: past the first calls the runtime runs a traced
    graph (half the time of eager calls on the tiny translator), with outputs equal to the eager model's."""
    import keras

    from edgesuite.export.runtime import ModelRuntime

    source, target = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    embed = keras.layers.Embedding(50, 8)
    pooled = keras.layers.GlobalAveragePooling1D()(embed(source))
    x = embed(target) + keras.layers.Reshape((1, 8))(pooled)
    model = keras.Model([source, target], keras.layers.Dense(50, activation="softmax")(x))
    runtime = ModelRuntime(model)
    rng = np.random.default_rng(0)
    for step in range(1, 7):  # the target grows by one token a call, the batch changes
        ids = [rng.integers(0, 50, (3 + step % 2, length), dtype=np.int32) for length in (5, step)]
        np.testing.assert_array_equal(runtime.run(ids), np.asarray(model(ids, training=False)), err_msg=str(step))
    assert runtime._graph is not None  # the later calls went through the graph
