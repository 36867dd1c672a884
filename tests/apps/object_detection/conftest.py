"""Detection fixtures: canvases written in each box format, and one tiny trained run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def det_run(tmp_path_factory) -> Path:
    """The detector at a quarter width trained two epochs on 160 canvases of 32 px: seconds, shared by readers."""
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("detruns")
    assert (
        main(
            [
                "train",
                "object-detection",
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
    return out / "object-detection" / "tiny"


@pytest.fixture(scope="session")
def canvas_folders(tmp_path_factory) -> dict[str, Path]:
    """``edgesuite data make-canvas`` output in each format: 12 train, 2 val, 2 test canvases of 48 px."""
    from edgesuite.cli import main

    root = tmp_path_factory.mktemp("canvas")
    out = {}
    for fmt in ("coco", "voc", "yolo"):
        assert (
            main(
                [
                    "data",
                    "make-canvas",
                    "--out",
                    str(root / fmt),
                    "--format",
                    fmt,
                    "--count",
                    "12",
                    "--image-size",
                    "48",
                    "--seed",
                    "3",
                ]
            )
            == 0
        )
        out[fmt] = root / fmt
    return out
