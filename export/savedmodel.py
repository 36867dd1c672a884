"""SavedModel with a named ``serving_default`` signature over what a user holds, metadata in assets/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgesuite.export.context import ExportContext, named_outputs, replace_atomically, staging_path

# the signature a TFLite file converts from: the module's (no RegexReplace: TFLite has no kernel) or the model's
TFLITE_SIGNATURE = "token_ids"


def write(ctx: ExportContext, fmt, path: Path) -> None:
    if ctx.serving_module is not None:
        write_module(ctx.serving_module, ctx.metadata, ctx.user_input_signature(), path)
    else:
        write_model(ctx.model, ctx.metadata, ctx.user_input_signature(), path, ctx.preprocessor, ctx.serving_outputs)
    ctx.use_savedmodel(path)


def write_module(module, metadata: dict, input_signature, path: Path) -> None:
    """A task's serving module: ``serving_default`` = ``module.with_text``, ``token_ids`` = ``module.token_ids``."""
    import keras

    archive = keras.export.ExportArchive()
    # not archive.track(model): the endpoints' variables are tracked by add_endpoint, and tracking the model as
    # well stored every weight twice (a 33 MB translator's SavedModel was 67 MB)
    archive.track(module)  # the tokenizer's vocabulary tables
    archive.add_endpoint(name="serving_default", fn=module.with_text, input_signature=input_signature)
    archive.add_endpoint(name=TFLITE_SIGNATURE, fn=module.token_ids, input_signature=input_signature)
    _write_archive(archive, metadata, path)


def write_model(model, metadata: dict, input_signature, path: Path, preprocessor=None, serving_outputs=None) -> None:
    """``preprocessor`` (a tf.Module, e.g. the tokenizer) runs in front of the model inside the signature;
    ``serving_outputs`` (``Serving.serving_outputs``) adds outputs after it."""
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    if preprocessor is not None:
        archive.track(preprocessor)  # its vocabulary tables are resources the SavedModel must hold
    names = metadata["outputs"]

    def serve(*x):
        x = x[0] if len(x) == 1 else list(x)
        return named_outputs(model, names, preprocessor(x) if preprocessor is not None else x, serving_outputs)

    # ExportArchive (not tf.saved_model.save of a tf.Module): its variables convert;
    # the tf.Module route left READ_VARIABLE ops that int8 calibration failed on.
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=input_signature)
    _write_archive(archive, metadata, path)


def _write_archive(archive, metadata: dict, path: Path) -> None:
    tmp = staging_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    archive.write_out(str(tmp), verbose=False)
    (tmp / "assets").mkdir(exist_ok=True)
    (tmp / "assets" / "edgesuite_metadata.json").write_text(json.dumps(metadata, indent=2))
    replace_atomically(tmp, path)
