"""The image classifier's recipe from the data: its image size, and flips only for classes that keep their class
mirrored (clothes yes, handwritten digits no)."""

import numpy as np
import pytest
import yaml

from edgesuite.apps.image_classification import data as icdata
from edgesuite.common.augment import CLASSIFICATION_DEFAULTS


def _digits(per_class: int | None = None) -> icdata.LabelledImages:
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.images * (255 / 16)).astype(np.uint8)[..., None], d.target
    if per_class:
        keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)])
        x, y = x[keep], y[keep]
    return icdata.LabelledImages(labels=y, arrays=x, grey=True)


def _fashion() -> icdata.LabelledImages:
    from edgesuite.common.datasets.fashion_mnist import load_subset

    (x, y), _ = load_subset()
    return icdata.LabelledImages(labels=y, arrays=x[..., None], grey=True)


def test_mirrored_clothes_keep_their_class_and_mirrored_digits_do_not():
    clothes, digits = icdata.flip_evidence(_fashion(), 10), icdata.flip_evidence(_digits(), 10)
    assert clothes.keeps_labels, clothes.reason
    assert not digits.keeps_labels, digits.reason
    assert "mirroring changes labels" in digits.reason


def test_a_set_too_small_to_show_anything_keeps_flips():
    assert icdata.flip_evidence(_digits(per_class=1), 10).keeps_labels


def test_the_image_size_is_the_native_one_within_bounds(tmp_path):
    from PIL import Image

    assert icdata.fitted_image_size(_fashion())[0] == 28
    assert icdata.fitted_image_size(_digits())[0] == 16  # 8 px digits: the smallest fitted side
    assert icdata.fitted_image_size(_digits(), "mobilenetv2")[0] == 32
    paths = []
    for i, side in enumerate([400, 420, 380]):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.new("RGB", (side + 50, side)).save(paths[-1])
    big = icdata.LabelledImages(labels=np.zeros(3, int), paths=paths)
    assert icdata.fitted_image_size(big) == (128, 400, 3)


@pytest.mark.parametrize("kind", ["digits", "clothes"])
def test_a_folder_trains_at_its_own_size_with_the_augmentation_its_classes_allow(tmp_path, kind):
    from PIL import Image

    from edgesuite.cli import main
    from tests.conftest import write_class_folders

    root = tmp_path / "data"
    if kind == "digits":
        images = _digits()  # all 1,797: enough for the flip evidence to show that mirroring changes digits
        for i, (im, y) in enumerate(zip(images.arrays, images.labels)):
            (root / str(y)).mkdir(parents=True, exist_ok=True)
            Image.fromarray(im[..., 0]).resize((20, 20)).save(root / str(y) / f"{i}.png")
    else:
        write_class_folders(root, per_class=12, classes=(0, 1, 5, 7, 9))
    out = tmp_path / "out"
    assert (
        main(
            [
                "train",
                "image-classification",
                "--data",
                str(root),
                "--epochs",
                "1",
                "--out",
                str(out),
                "--name",
                "fit",
                "--precision",
                "float32",
            ]
        )
        == 0
    )
    config = yaml.safe_load((out / "image-classification" / "fit" / "config.yaml").read_text())
    assert config["image_size"] == (20 if kind == "digits" else 28)
    assert config["augment"] == CLASSIFICATION_DEFAULTS[kind == "clothes"]
