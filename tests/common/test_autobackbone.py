"""--backbone auto of the detector and the segmenter: the pretrained EfficientNet-Lite0 for colour images of some
size, the app's own network from scratch for grey or small ones and for the embedded canvases."""

from __future__ import annotations

import numpy as np
import pytest

from edgesuite.common import autobackbone


def _folder(root, side: int, grey: bool, count: int = 6):
    from PIL import Image

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for i in range(count):
        rgb = rng.integers(0, 256, (side, side + 10, 3), dtype=np.uint8)
        Image.fromarray(rgb).convert("L" if grey else "RGB").save(root / f"{i}.png")
    return root


def test_colourfulness_is_zero_for_grey_and_high_for_random_colour():
    grey = np.repeat(np.arange(64, dtype=np.uint8)[None, :, None], 64, 0).repeat(3, -1)
    assert autobackbone.colourfulness(grey) == 0.0
    colour = np.random.default_rng(0).integers(0, 256, (32, 32, 3))
    assert autobackbone.colourfulness(colour) > 82  # Hasler and Süsstrunk's "highly colourful"


@pytest.mark.parametrize("side, grey, pretrained", [(96, False, True), (96, True, False), (40, False, False)])
def test_colour_images_of_some_size_take_the_pretrained_backbone(tmp_path, side, grey, pretrained):
    choice = autobackbone.choose(_folder(tmp_path / "images", side, grey), "vgg", installed=True)
    assert choice.pretrained is pretrained, choice.reason
    assert choice.side == (side if pretrained else choice.side)
    if not pretrained:
        assert "vgg from scratch" in choice.reason
    assert not autobackbone.choose(_folder(tmp_path / "more", 96, False), "vgg", installed=False).pretrained


def test_the_pretrained_image_size_is_a_multiple_of_its_stride():
    assert [autobackbone.fitted_side(s) for s in (40, 96, 110, 400)] == [64, 96, 96, 256]


def test_the_detector_resolves_auto_from_a_folder_and_keeps_vgg_on_the_canvases(tmp_path):
    from edgesuite.apps.object_detection.config import Config
    from edgesuite.apps.object_detection.task import TASK
    from edgesuite.cli import main

    assert (
        main(
            [
                "data",
                "make-canvas",
                "--out",
                str(tmp_path / "c"),
                "--format",
                "yolo",
                "--count",
                "12",
                "--image-size",
                "100",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    info = TASK.load_data(Config(data=str(tmp_path / "c"), batch_size=4)).info
    assert (info["backbone"], info["freeze_backbone"], info["image_size"]) == ("efficientnet-lite0", True, 96)
    assert autobackbone.resolve(Config(), "vgg", "vgg", say=lambda _: None).backbone == "vgg"  # --data canvas
    given = Config(data=str(tmp_path / "c"), backbone="vgg")
    assert autobackbone.resolve(given, "vgg", "vgg") is given


def test_the_segmenter_keeps_its_own_encoder_on_grey_images(tmp_path):
    from PIL import Image

    from edgesuite.apps.segmentation.config import Config

    root = _folder(tmp_path / "data" / "images", 96, grey=True)
    (tmp_path / "data" / "masks").mkdir()
    for f in root.iterdir():
        Image.fromarray(np.zeros((96, 106), np.uint8)).save(tmp_path / "data" / "masks" / f.name)
    cfg = autobackbone.resolve(Config(data=str(tmp_path / "data")), "auto", "the compact U-Net", say=lambda _: None)
    assert (cfg.backbone, cfg.encoder, cfg.freeze_backbone, cfg.image_size) == ("auto", "compact", False, 0)


def test_a_small_image_size_given_keeps_the_own_network(tmp_path):
    from edgesuite.apps.object_detection.config import Config

    root = _folder(tmp_path / "images", 96, grey=False)
    quiet = dict(say=lambda _: None)
    assert autobackbone.resolve(Config(data=str(root)), "vgg", "vgg", **quiet).backbone == autobackbone.PRETRAINED
    assert autobackbone.resolve(Config(data=str(root), image_size=32), "vgg", "vgg", **quiet).backbone == "vgg"


def test_deeplab_with_weights_asked_keeps_its_mobilenetv2(tmp_path):
    from edgesuite.apps.segmentation.config import Config

    root = _folder(tmp_path / "images", 96, grey=False)
    cfg = Config(data=str(root), model="deeplabv3plus", weights="imagenet")
    cfg.validate()
    assert autobackbone.resolve(cfg, "auto", "MobileNetV2", say=lambda _: None).encoder == "mobilenetv2"
