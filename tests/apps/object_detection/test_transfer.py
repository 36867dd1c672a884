"""Transfer learning for the detector: a MobileNetV2 backbone from a weights file or from a run folder (an image
classifier trained on local images: no download), frozen or fine-tuned; the best epoch is the best val mAP@0.5."""

import json

import numpy as np
import pytest

from edgesuite.common.errors import UserInputError

TINY = [
    "--canvas-count",
    "48",
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
    "--seed",
    "1",
]


@pytest.fixture(scope="module")
def classifier_run(tiny_folder, tmp_path_factory):
    """A MobileNetV2 image classifier (width 0.35) trained one epoch on local images: the pretrained backbone."""
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("pretrain")
    assert (
        main(
            [
                "train",
                "image-classification",
                "--data",
                str(tiny_folder),
                "--model",
                "mobilenetv2",
                "--width",
                "0.35",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--precision",
                "float32",
                "--out",
                str(out),
                "--name",
                "mnv2",
            ]
        )
        == 0
    )
    return out / "image-classification" / "mnv2"


def _conv1(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found = _conv1(layer)
            if found is not None:
                return found
        elif layer.name == "Conv1":
            return layer.get_weights()[0]
    return None


def test_a_frozen_backbone_from_a_run_folder_keeps_its_weights(classifier_run, tmp_path):
    import keras

    from edgesuite.cli import main

    assert (
        main(
            [
                "train",
                "object-detection",
                *TINY,
                "--backbone",
                "mobilenetv2",
                "--width",
                "0.35",
                "--weights",
                str(classifier_run),
                "--freeze-backbone",
                "--out",
                str(tmp_path),
                "--name",
                "frozen",
            ]
        )
        == 0
    )
    run = tmp_path / "object-detection" / "frozen"
    detector = keras.models.load_model(run / "model.keras", compile=False)
    pretrained = _conv1(keras.models.load_model(classifier_run / "model.keras", compile=False))
    np.testing.assert_array_equal(_conv1(detector), pretrained)
    state = json.loads((run / "checkpoints" / "state.json").read_text())
    maps = [row["val_map50"] for row in state["history"]]
    assert len(maps) == 2 and state["best"] == max(maps)  # the kept epoch is the best by val mAP@0.5


def test_a_weights_file_starts_a_fine_tuned_backbone(classifier_run, tmp_path):
    import keras

    from edgesuite.cli import main

    backbone = keras.models.load_model(classifier_run / "model.keras", compile=False).get_layer("backbone")
    path = tmp_path / "mobilenetv2_035.weights.h5"
    backbone.save_weights(path)
    assert (
        main(
            [
                "train",
                "object-detection",
                *TINY,
                "--backbone",
                "mobilenetv2",
                "--width",
                "0.35",
                "--weights",
                str(path),
                "--out",
                str(tmp_path),
                "--name",
                "tuned",
            ]
        )
        == 0
    )
    detector = keras.models.load_model(tmp_path / "object-detection" / "tuned" / "model.keras", compile=False)
    moved = np.abs(_conv1(detector) - backbone.get_layer("Conv1").get_weights()[0]).max()
    assert 0 < moved < 0.5  # trained from the file's weights, not from scratch


def test_bad_backbone_weights_are_named(classifier_run, trained_run, tmp_path):
    from edgesuite.api import train

    with pytest.raises(UserInputError, match="the vgg backbone trains from scratch"):
        train("object-detection", backbone="vgg", weights=str(classifier_run), out=str(tmp_path))
    with pytest.raises(UserInputError, match="name the backbone they are for"):  # --backbone auto picks its own
        train("object-detection", weights=str(classifier_run), out=str(tmp_path))
    with pytest.raises(UserInputError, match="holds no MobileNetV2 backbone"):
        train(
            "object-detection",
            backbone="mobilenetv2",
            weights=str(trained_run),
            out=str(tmp_path),
            canvas_count=48,
            image_size=32,
            epochs=1,
        )
    with pytest.raises(UserInputError, match="other shapes in layer|same width"):
        train(
            "object-detection",
            backbone="mobilenetv2",
            width=0.5,
            weights=str(classifier_run),
            out=str(tmp_path),
            canvas_count=48,
            image_size=32,
            epochs=1,
        )
