"""Segmentation fixtures: real canvases written as an images/ + masks/ folder, and one tiny trained run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def write_pairs(root: Path, count: int = 24, size: int = 32, seed: int = 0, split: str = "train") -> Path:
    """Canvases as RGB PNG images and 8-bit grey PNG masks (class ids), plus classes.txt."""
    from PIL import Image

    from edgesuite.common.canvas import make_canvases

    c = make_canvases(count, size, split, seed=seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(c.images[i]).save(root / "images" / f"c{i:03d}.png")
        Image.fromarray(c.masks[i]).save(root / "masks" / f"c{i:03d}.png")
    (root / "classes.txt").write_text("\n".join(c.mask_class_names) + "\n")
    return root


@pytest.fixture(scope="session")
def seg_run(tmp_path_factory) -> Path:
    """A U-Net at a quarter width trained two epochs on 160 canvases of 32 px: seconds, shared by readers."""
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("segruns")
    assert (
        main(
            [
                "train",
                "segmentation",
                "--canvas-count",
                "160",
                "--image-size",
                "32",
                "--width",
                "0.25",
                "--epochs",
                "2",
                "--batch-size",
                "16",
                "--out",
                str(out),
                "--name",
                "tiny",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    return out / "segmentation" / "tiny"


@pytest.fixture
def make_pairs():
    return write_pairs


@pytest.fixture
def pairs(tmp_path) -> Path:
    return write_pairs(tmp_path / "data")


def mask_values(path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path))
