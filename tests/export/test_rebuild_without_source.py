"""The exporter's float32 rebuild needs no pretrained source: a run whose --weights file is gone still exports."""

from __future__ import annotations

import dataclasses

import numpy as np


def test_the_float32_rebuild_builds_without_the_weights_file_and_takes_the_trained_weights(tmp_path):
    import keras

    from edgesuite.apps.image_classification.config import Config
    from edgesuite.apps.image_classification.task import TASK
    from edgesuite.export.exporter import rebuild_float32

    keras.mixed_precision.set_global_policy("float32")
    info = {
        "image_size": 32,
        "class_names": ["a", "b"],
        "channels": 3,
        "tta": "none",
        "model": "efficientnet-lite0",
        "weights": "none",
    }
    gone = tmp_path / "gone.npz"  # the source the run started from, deleted since
    cfg = Config(model="efficientnet-lite0", weights=str(gone), image_size=32)
    trained = TASK.build_model(dataclasses.replace(cfg, weights="none"), info)
    rng = np.random.default_rng(0)
    trained.set_weights([w + rng.normal(0, 0.01, w.shape).astype(w.dtype) for w in trained.get_weights()])
    rebuilt = rebuild_float32(TASK, cfg, info, trained)
    x = rng.integers(0, 256, (2, 32, 32, 3)).astype("uint8")
    np.testing.assert_allclose(
        np.asarray(rebuilt(x, training=False)), np.asarray(trained(x, training=False)), atol=1e-6
    )
