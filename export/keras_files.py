"""``.keras`` and ``.h5``: the float32 Keras model, loadable with plain ``keras.models.load_model``.

The classifier is built from Keras core layers only, so neither file needs
edgesuite (or a custom_objects dict) to load. Metadata rides along: inside the
``.keras`` zip as ``edgesuite_metadata.json`` (Keras ignores unknown members),
and as the HDF5 root attribute ``edgesuite_metadata``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from edgesuite.export.context import ExportContext, replace_atomically, staging_path

METADATA_NAME = "edgesuite_metadata.json"


def write(ctx: ExportContext, fmt, path: Path) -> None:
    tmp = staging_path(path)
    ctx.model.save(tmp)
    text = json.dumps(ctx.metadata)
    if fmt.name == "h5":
        import h5py

        with h5py.File(tmp, "a") as f:
            f.attrs["edgesuite_metadata"] = text
    else:
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(METADATA_NAME, text)
    replace_atomically(tmp, path)


def h5_custom_objects(path: Path) -> dict:
    """The Keras op classes a legacy ``.h5`` model config names (e.g. ``NotEqual`` of a padding mask).

    Keras 3 records ``keras.ops`` calls in a functional model as op nodes; the
    ``.keras`` loader knows them, the legacy HDF5 loader does not, so a text
    model's ``.h5`` needs ``keras.models.load_model(path, custom_objects=h5_custom_objects(path))``.
    """
    import inspect

    import h5py
    import keras
    from keras.src import ops

    with h5py.File(path, "r") as f:
        raw = f.attrs.get("model_config")
    if raw is None:
        return {}
    names = set()

    def walk(node):  # nested models (a translator's encoder and decoder) hold layers of their own
        if isinstance(node, dict):
            if isinstance(node.get("class_name"), str):
                names.add(node["class_name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads(raw))
    found = {}
    for module in (ops.numpy, ops.core, ops.math, ops.nn):
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if name in names and not hasattr(keras.layers, name):
                found[name] = cls
    return found


def read_metadata(path: Path) -> dict | None:
    if path.suffix == ".h5":
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("edgesuite_metadata")
        return json.loads(raw) if raw is not None else None
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read(METADATA_NAME)) if METADATA_NAME in z.namelist() else None
