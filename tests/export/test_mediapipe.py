"""The exported .tflite files in the real client: MediaPipe Tasks, given nothing but the model path."""

from __future__ import annotations

import json

import mediapipe as mp  # a dependency of edgesuite: the exporter writes the metadata with it
import numpy as np
import pytest
from mediapipe.tasks.python import BaseOptions, vision

import edgesuite
from edgesuite.cli import main
from edgesuite.export import mediapipe as emp


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory):
    """A classifier of RGB images (Fashion-MNIST items copied into three channels), exported as .tflite."""
    from PIL import Image

    from edgesuite.common.datasets.fashion_mnist import CLASS_NAMES, load_subset

    root = tmp_path_factory.mktemp("rgb")
    (x, y), _ = load_subset()
    for c in (0, 1, 7):
        d = root / "data" / CLASS_NAMES[c].replace("/", "-")
        d.mkdir(parents=True)
        for i, idx in enumerate(np.flatnonzero(y == c)[:40]):
            Image.fromarray(np.stack([x[idx]] * 3, -1)).save(d / f"{i:03d}.png")
    assert (
        main(
            [
                "train",
                "image-classification",
                "--data",
                str(root / "data"),
                "--channels",
                "3",
                "--epochs",
                "2",
                "--batch-size",
                "16",
                "--precision",
                "float32",
                "--out",
                str(root / "runs"),
                "--name",
                "rgb",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    run = root / "runs" / "image-classification" / "rgb"
    assert main(["export", str(run), "--formats", "tflite,tflite-int8", "--calibration-samples", "32"]) == 0
    return run, sorted((root / "data").rglob("*.png"))


@pytest.mark.parametrize("name", ["model_float32.tflite", "model_int8.tflite"])
def test_image_classifier_names_the_labels_edgesuite_gives(rgb_run, name):
    run, files = rgb_run
    path = run / "export" / name
    expected = [r["label"] for r in edgesuite.load(path).predict([str(f) for f in files])]
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=1)
    with vision.ImageClassifier.create_from_options(options) as classifier:
        got = [
            classifier.classify(mp.Image.create_from_file(str(f))).classifications[0].categories[0].category_name
            for f in files
        ]
    assert set(got) <= {"t-shirt-top", "trouser", "sneaker"}  # names (the folders'), not None: from the metadata
    share = np.mean([a == b for a, b in zip(got, expected)])
    assert share >= (0.98 if "int8" in name else 0.99), share


def test_the_report_has_a_mediapipe_column(rgb_run):
    run, _ = rgb_run
    rows = {r["format"]: r for r in json.loads((run / "export" / "export_report.json").read_text())["formats"]}
    assert rows["tflite"]["mediapipe"].startswith("ok: ImageClassifier")
    assert rows["tflite-int8"]["mediapipe"].startswith("ok: ImageClassifier")
    assert "| MediaPipe |" in (run / "export" / "export_report.md").read_text()


def test_a_greyscale_classifier_runs_in_image_classifier_from_rgb(trained_run, tmp_path):
    """The quickstart's kind of model (28 px grey): model_mediapipe*.tflite take RGB and make it grey inside as
    edgesuite's prediction does (PIL's 'L'), so ImageClassifier runs them by path with the label names, and the
    file's scores on a colour picture are the plain file's on that picture made grey."""
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image

    out = tmp_path / "export"
    code = main(
        [
            "export",
            str(trained_run),
            "--formats",
            "tflite,mediapipe,mediapipe-int8",
            "--out",
            str(out),
            "--calibration-samples",
            "32",
        ]
    )
    rows = {r["format"]: r for r in json.loads((out / "export_report.json").read_text())["formats"]}
    assert code == 0, rows
    for name in ("mediapipe", "mediapipe-int8"):
        assert rows[name]["status"] == "ok" and rows[name]["mediapipe"].startswith("ok: ImageClassifier"), rows[name]
    assert "1-channel input" in rows["tflite"]["mediapipe"] and "model_mediapipe" in rows["tflite"]["mediapipe"]
    size = json.loads((out / "metadata.json").read_text())["input"]["shape"][0]
    colour = np.random.default_rng(3).integers(0, 256, (4, size, size, 3), dtype=np.uint8)
    grey = np.stack([np.asarray(Image.fromarray(c).convert("L"))[..., None] for c in colour])
    task_file = Interpreter(model_path=str(out / "model_mediapipe.tflite"))
    plain = edgesuite.load(out / "model_float32.tflite")
    task_file.allocate_tensors()
    detail = task_file.get_input_details()[0]
    assert list(detail["shape"]) == [1, size, size, 3]
    for c, want in zip(colour, plain.predict_raw(grey)):
        task_file.set_tensor(detail["index"], c[None])
        task_file.invoke()
        np.testing.assert_allclose(task_file.get_tensor(task_file.get_output_details()[0]["index"])[0], want, atol=1e-5)
    names = json.loads((out / "metadata.json").read_text())["class_names"]
    with vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(out / "model_mediapipe.tflite")), max_results=1
        )
    ) as task:
        top = task.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(colour[0])))
    category = top.classifications[0].categories[0]
    assert category.category_name in names and category.display_name == category.category_name


def test_what_mediapipe_cannot_take_is_said_with_the_reason():
    grey = {"kind": "classifier", "input": {"shape": [28, 28, 1], "dtype": "uint8"}}
    assert "1-channel input" in emp.applicability(grey)
    assert emp.applicability(grey, layout="task") is None  # model_mediapipe*.tflite: RGB in, grey inside
    assert "tokenizer" in emp.applicability({"kind": "classifier", "input": {"shape": [], "dtype": "string"}})
    detector = {"kind": "detector", "input": {"shape": [32, 32, 3], "dtype": "uint8"}}
    assert "model_mediapipe" in emp.applicability(detector)  # the plain file: edgesuite's outputs
    assert emp.applicability(detector, layout="task") is None  # model_mediapipe*.tflite: ObjectDetector's
    segmenter = {"kind": "segmenter", "input": {"shape": [32, 32, 3], "dtype": "uint8"}}
    assert emp.applicability(segmenter) is None and "as they are" in emp.applicability(segmenter, layout="task")
    assert "no MediaPipe task" in emp.applicability({"kind": "translator", "input": {"dtype": "string"}}, layout="task")


def test_the_minimum_parser_version_follows_the_schema_history():
    import flatbuffers
    from mediapipe.tasks.metadata import metadata_schema_py_generated as fb

    def version(**subgraph):
        sg = fb.SubGraphMetadataT()
        for k, v in subgraph.items():
            setattr(sg, k, v)
        md = fb.ModelMetadataT()
        md.subgraphMetadata = [sg]
        b = flatbuffers.Builder(0)
        b.Finish(md.Pack(b), fb.ModelMetadataIdentifier() if hasattr(fb, "ModelMetadataIdentifier") else None)
        return emp.min_parser_version(bytes(b.Output()))

    assert version() == "1.0.0"
    assert version(customMetadata=[fb.CustomMetadataT()]) == "1.5.0"
    assert version(inputTensorGroups=[fb.TensorGroupT()]) == "1.2.0"
