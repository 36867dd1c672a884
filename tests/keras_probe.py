"""Loads an export folder's ``model.h5`` and ``model.keras`` the way a user's own project does: plain
``keras.models.load_model``, no custom objects, edgesuite never imported; runs both on the same inputs.

    python tests/keras_probe.py EXPORT_DIR

Prints one JSON line (``{"loaded": [...], "max_abs_diff": ..., "edgesuite_imported": false}``) and exits 0 when
both load and agree to 1e-5, else prints the error and exits 1."""

from __future__ import annotations

import json
import sys


def main(folder: str) -> int:
    import keras
    import numpy as np

    h5 = keras.models.load_model(f"{folder}/model.h5")
    native = keras.models.load_model(f"{folder}/model.keras")
    rng = np.random.default_rng(0)

    def example(spec):  # ids 1..4 (0 pads) or pixels; two rows, 7 tokens where the length is free
        shape = [2] + [d if d is not None else 7 for d in spec.shape[1:]]
        if "int" in str(spec.dtype):
            return rng.integers(1, 5, shape).astype("int32")
        return rng.integers(0, 256, shape).astype(spec.dtype)

    x = [example(s) for s in native.inputs]
    x = x if len(x) > 1 else x[0]
    diff = float(np.max(np.abs(np.asarray(h5(x)) - np.asarray(native(x)))))
    imported = any(m.startswith("edgesuite") for m in sys.modules)
    print(json.dumps({"loaded": ["model.h5", "model.keras"], "max_abs_diff": diff, "edgesuite_imported": imported}))
    return 0 if diff <= 1e-5 and not imported else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
