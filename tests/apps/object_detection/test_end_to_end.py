"""train -> evaluate -> predict (boxes drawn) -> export all formats with NMS inside -> edgesuite.load, on canvases."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from edgesuite.cli import main
from edgesuite.export.formats import FORMATS


def _canvas_images(tmp_path, count=3, size=32):
    from edgesuite.common.canvas import make_canvases

    c = make_canvases(count, size, "test", seed=9)
    paths = []
    for i in range(count):
        paths.append(tmp_path / f"canvas{i}.png")
        Image.fromarray(c.images[i]).save(paths[-1])
    return c.images, paths


def test_the_run_holds_model_coco_metrics_and_plots(det_run):
    assert json.loads((det_run / "status.json").read_text())["state"] == "completed"
    metrics = json.loads((det_run / "metrics.json").read_text())
    assert set(metrics) >= {"map50", "map50_95", "map75", "recall", "per_class", "pr_curve_50", "split"}
    assert metrics["split"] == "test" and metrics["images"] == 50
    assert 0 <= metrics["map50_95"] <= metrics["map50"] <= 1
    assert set(metrics["per_class"]) <= set(json.loads((det_run / "info.json").read_text())["class_names"])
    for plot in ("training_curves.png", "val_predictions.png", "pr_curves.png"):
        assert (det_run / "plots" / plot).stat().st_size > 1000
    info = json.loads((det_run / "info.json").read_text())
    assert info["split_sizes"] == {"train": 160, "val": 50, "test": 50}
    assert info["postprocessing_params"]["max_detections"] == 100
    assert info["postprocessing_params"]["candidates_per_detection"] == 10


def test_evaluate_on_a_coco_folder_and_predict_draws_boxes(det_run, canvas_folders, tmp_path, capsys):
    assert main(["evaluate", str(det_run), "--data", str(canvas_folders["coco"] / "test")]) == 0
    assert "map50" in capsys.readouterr().out
    _, paths = _canvas_images(tmp_path, size=48)  # 48 px: resized to the model's 32, boxes drawn at 48
    assert main(["predict", str(det_run), *map(str, paths), "--save-dir", str(tmp_path / "drawn"), "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()[-3:]]
    for r in results:
        assert r["count"] == len(r["objects"]) <= 100  # max_detections
        for obj in r["objects"]:
            assert 0 <= obj["box"][0] <= obj["box"][2] <= 1 and len(obj["box_px"]) == 4 and obj["label"]
        assert Image.open(r["image_file"]).size == (48, 48)


@pytest.fixture(scope="module")
def det_export(det_run) -> tuple[int, dict]:
    """The shared run exported to every format: the exit code and the report."""
    code = main(["export", str(det_run), "--calibration-samples", "32", "--eval-samples", "48"])
    return code, json.loads((det_run / "export" / "export_report.json").read_text())


def test_the_contract_cycle(det_run, det_export, tmp_path):
    from tests.cycle import check_cycle

    check_cycle("object-detection", det_run, det_export[1], 48, tmp_path)


def test_export_all_formats_nms_inside_and_load_agrees(det_run, det_export, tmp_path):
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    from edgesuite import load
    from edgesuite.apps.object_detection.postprocess import detections
    from edgesuite.export.tflite import op_names

    code, report = det_export
    export = det_run / "export"
    rows = {r["format"]: r for r in report["formats"]}
    assert report["metric_name"] == "map50" and set(rows) == set(FORMATS)
    # MediaPipe's ObjectDetector, given only the path, finds the Keras model's detections in model_mediapipe.tflite
    assert rows["mediapipe"]["status"] == "ok" and rows["mediapipe"]["mediapipe"].startswith("ok: ObjectDetector finds")
    assert " 0 of 0 " not in rows["mediapipe"]["mediapipe"], rows["mediapipe"]
    assert rows["tflite"]["mediapipe"].startswith("not applicable") and "model_mediapipe" in rows["tflite"]["mediapipe"]
    # the int8 file by the plain int8 file's rule (IoU >= 0.5), its decoding and NMS in float after the int8 network
    assert rows["mediapipe-int8"]["mediapipe"].startswith("ok: ObjectDetector finds"), rows["mediapipe-int8"]
    assert "IoU >= 0.5" in rows["mediapipe-int8"]["mediapipe"] and "IoU >= 0.9" in rows["mediapipe"]["mediapipe"]
    _assert_postprocess_in_float(export / "model_mediapipe_int8.tflite")
    with pytest.raises(Exception, match="made for MediaPipe Tasks"):
        load(export / "model_mediapipe.tflite")
    assert all(r["status"] == "ok" for name, r in rows.items() if name != "tflite-int8"), rows
    assert code == (0 if rows["tflite-int8"]["status"] == "ok" else 1)
    metadata = json.loads((export / "metadata.json").read_text())
    images, paths = _canvas_images(tmp_path)
    for name in ("model_float32.tflite", "model_int8.tflite"):
        ops = op_names((export / name).read_bytes())
        assert "NON_MAX_SUPPRESSION_V4" in ops and not [op for op in ops if op.startswith("custom:")], ops
        runner = Interpreter(model_path=str(export / name)).get_signature_runner("serving_default")
        out = runner(image=images)
        assert out["boxes"].shape == (3, 100, 4) and out["num_detections"].shape == (3,)
        assert out["classes"].dtype == np.int32 and out["scores"].dtype in (np.float32, np.uint8)
        if name == "model_float32.tflite":  # the graph's NMS and the numpy one give the same detections
            want = detections(out["predictions"], metadata)
            for i in range(3):
                c = out["num_detections"][i]
                assert np.allclose(out["boxes"][i, :c], want[i]["boxes"], atol=1e-5)
                assert np.array_equal(out["classes"][i, :c], want[i]["classes"])
    session = ort.InferenceSession(str(export / "model.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"image": images})))
    assert {"boxes", "scores", "classes", "num_detections", "predictions"} <= set(onnx_out)
    from_keras = load(export / "model.keras").predict([str(p) for p in paths])
    from_tflite = load(export / "model_float32.tflite").predict([str(p) for p in paths])
    for a, b in zip(from_keras, from_tflite):
        assert a["count"] == b["count"]
        assert [o["label"] for o in a["objects"]] == [o["label"] for o in b["objects"]]
        assert np.allclose([o["box"] for o in a["objects"]], [o["box"] for o in b["objects"]], atol=1e-4)


def test_h5_loads_without_edgesuite_in_a_fresh_process(det_run):
    h5 = det_run / "export" / "model.h5"
    if not h5.exists():
        assert main(["export", str(det_run), "--formats", "h5"]) == 0
    code = (
        "import sys, keras, numpy as np; m = keras.models.load_model(sys.argv[1], compile=False); "
        "assert 'edgesuite' not in sys.modules; "
        "print(m(np.zeros((1, 32, 32, 3), 'uint8')).shape)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(h5)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "(1, 64, 15)"  # 8x8 points: 4 distances, 10 classes, centre-ness


def test_the_train_script_trains_evaluates_and_exports(canvas_folders, tmp_path, capsys):
    from tests.apps.test_train_scripts import load_script, script_ran

    main_ = load_script("object-detection").main
    assert (
        main_(
            [
                "--data",
                str(canvas_folders["yolo"]),
                "--image-size",
                "32",
                "--width",
                "0.25",
                "--epochs",
                "1",
                "--time-budget",
                "0",
                "--batch-size",
                "8",
                "--out",
                str(tmp_path),
                "--formats",
                "keras",
            ]
        )
        == 0
    )
    script_ran(tmp_path / "object-detection", capsys, "test mAP@0.5")


def test_a_folder_streams_from_its_files_through_a_file_cache(canvas_folders, tmp_path, capsys):
    from edgesuite.apps.object_detection.config import Config
    from edgesuite.apps.object_detection.data import load_splits
    from edgesuite.common.stream import FileRows

    root = canvas_folders["coco"]
    splits = load_splits(Config(data=str(root), image_size=32))
    assert isinstance(splits.train.images, FileRows) and splits.train.images[:2].shape == (2, 32, 32, 3)
    assert (
        main(
            [
                "train",
                "object-detection",
                "--data",
                str(root),
                "--image-size",
                "32",
                "--width",
                "0.25",
                "--epochs",
                "2",
                "--batch-size",
                "4",
                "--cache-memory-mb",
                "0",
                "--out",
                str(tmp_path / "runs"),
                "--name",
                "streamed",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "cache: train split" in out and "a file cache at" in out
    assert (tmp_path / "runs" / "object-detection" / "streamed" / "plots" / "val_predictions.png").exists()
    assert len(list((tmp_path / "runs" / ".cache" / "object-detection").rglob("*.index"))) == 2


def test_the_core_ml_file_is_a_vision_pipeline_with_nms(det_run, tmp_path):
    """What Xcode and Vision take: an image input, then Core ML's NonMaximumSuppression over per-box class
    confidences and centre/size coordinates; those two are the same scores and boxes as the NMS here."""
    import keras
    import tensorflow as tf

    from edgesuite.apps.object_detection.postprocess import detections
    from edgesuite.apps.object_detection.serving import SERVING
    from edgesuite.export.coreml import check_spec

    export = det_run / "export"
    if not (export / "model.mlpackage").exists():
        main(["export", str(det_run), "--formats", "coreml", "--calibration-samples", "8"])
    metadata = json.loads((export / "metadata.json").read_text())
    spec = check_spec(export / "model.mlpackage", metadata)
    assert spec["problems"] == [] and spec["nms"] and spec["outputs"] == ["confidence", "coordinates"], spec
    assert spec["inputs"] == {"image": "imageType"} and spec["labels"] == len(metadata["class_names"])

    images, _ = _canvas_images(tmp_path)
    predictions = keras.models.load_model(det_run / "model.keras")(images[:1].astype(np.float32)).numpy()
    out = SERVING.coreml_outputs({"predictions": tf.constant(predictions)}, metadata)
    confidence, (cx, cy, w, h) = out["confidence"].numpy(), out["coordinates"].numpy().T
    best = detections(predictions, metadata)[0]
    point, cls = np.unravel_index(np.argmax(confidence), confidence.shape)
    assert cls == best["classes"][0] and confidence[point, cls] == pytest.approx(best["scores"][0], abs=1e-5)
    box = [cx[point] - w[point] / 2, cy[point] - h[point] / 2, cx[point] + w[point] / 2, cy[point] + h[point] / 2]
    np.testing.assert_allclose(box, best["boxes"][0], atol=1e-5)


def _assert_postprocess_in_float(path):
    """Every op under the serving graph's post-processing name scope computes in float (or int32 / bool): none
    but the quantize ops the converter leaves for scores holds int8."""
    from ai_edge_litert.interpreter import Interpreter

    from edgesuite.apps.object_detection.serving import POSTPROCESS_SCOPE

    it = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in it.get_tensor_details()}
    ops = [(op["op_name"], tensors[i]) for op in it._get_ops_details() for i in op["outputs"] if i in tensors]
    scoped = [(name, t) for name, t in ops if f"{POSTPROCESS_SCOPE}/" in t["name"]]
    assert any(name == "NON_MAX_SUPPRESSION_V4" for name, _ in scoped) and len(scoped) > 20, scoped
    int8 = [(name, t["name"]) for name, t in scoped if t["dtype"] == np.int8 and name != "QUANTIZE"]
    assert not int8, int8
