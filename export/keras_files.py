"""``.keras`` and ``.h5``: the float32 Keras model, loadable with plain ``keras.models.load_model``.

The models are Keras core layers plus ``keras.ops`` calls (a padding mask's
``not_equal``, a translator's positions), which a functional model records as
op nodes. The ``.keras`` loader finds those by the module its config names; the
legacy HDF5 writer drops the module, so the ``.h5`` writer puts it back on each
op node (:func:`_name_op_modules`), and plain Keras loads every app's ``.h5``
without edgesuite or a custom_objects dict. Metadata rides along: inside the
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
            f.attrs["model_config"] = json.dumps(_name_op_modules(json.loads(f.attrs["model_config"]), ctx.model))
    else:
        with zipfile.ZipFile(tmp, "a") as z:
            z.writestr(METADATA_NAME, text)
    replace_atomically(tmp, path)


def _name_op_modules(config: dict, model) -> dict:
    """The legacy HDF5 model config with ``module`` set on every ``keras.ops`` node (as the ``.keras`` config has
    it), so that the loader imports the op's class instead of looking for a layer of that name: without it an op
    node is "Unknown layer: 'NotEqual'", or, for ``Add``, mistaken for the ``Add`` layer."""
    import keras

    ops = {}

    def collect(m):  # nested models (a translator's encoder and decoder) hold operations of their own
        for op in m.operations:
            if isinstance(op, keras.Model):
                collect(op)
            elif not isinstance(op, keras.layers.Layer):
                ops[(op.name, type(op).__name__)] = type(op).__module__

    def mark(node):
        if isinstance(node, dict):
            inner = node.get("config")
            key = (inner.get("name"), node.get("class_name")) if isinstance(inner, dict) else None
            if key in ops and "inbound_nodes" in node:
                node["module"], node["registered_name"] = ops[key], None
            for v in node.values():
                mark(v)
        elif isinstance(node, list):
            for v in node:
                mark(v)

    collect(model)
    mark(config)
    return config


def h5_custom_objects(path: Path) -> dict:
    """The Keras op classes a legacy ``.h5`` model config names (e.g. ``NotEqual`` of a padding mask).

    For ``.h5`` files written before their op nodes carried their module (see :func:`_name_op_modules`): those
    load with ``keras.models.load_model(path, custom_objects=h5_custom_objects(path))``; newer ones need nothing.
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
