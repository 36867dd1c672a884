"""Shared fixtures: small real image folders cut from the embedded Fashion-MNIST subset."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def write_class_folders(root: Path, per_class: int, classes=(0, 1, 7), offset: int = 0) -> Path:
    """Writes real Fashion-MNIST images as PNGs into root/<class name>/."""
    from PIL import Image

    from edgesuite.common.datasets.fashion_mnist import CLASS_NAMES, load_subset

    (x, y), _ = load_subset()
    for c in classes:
        d = root / CLASS_NAMES[c].replace("/", "-")
        d.mkdir(parents=True, exist_ok=True)
        for i, idx in enumerate(np.flatnonzero(y == c)[offset:offset + per_class]):
            Image.fromarray(x[idx]).save(d / f"{i:04d}.png")
    return root


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory) -> Path:
    """3 classes x 40 images: enough for a three-epoch training run in seconds."""
    return write_class_folders(tmp_path_factory.mktemp("tiny") / "data", per_class=40)


@pytest.fixture(scope="session")
def trained_run(tiny_folder, tmp_path_factory) -> Path:
    """One finished run on tiny_folder, shared by the tests that only read it."""
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "image-classification", "--data", str(tiny_folder), "--epochs", "3",
                 "--batch-size", "8", "--out", str(out), "--name", "shared", "--seed", "1"]) == 0
    return out / "image-classification" / "shared"
