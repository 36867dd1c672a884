"""SavedModel with a named ``serving_default`` signature over what a user holds, metadata in assets/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from edgesuite.export.context import ExportContext, named_outputs, replace_atomically, staging_path


def write(ctx: ExportContext, fmt, path: Path) -> None:
    write_model(ctx.model, ctx.metadata, ctx.user_input_signature(), path, ctx.preprocessor, ctx.serving_outputs)
    ctx.use_savedmodel(path)


def write_model(model, metadata: dict, input_signature, path: Path, preprocessor=None, serving_outputs=None) -> None:
    """``preprocessor`` (a tf.Module, e.g. the tokenizer) runs in front of the model inside the signature;
    ``serving_outputs`` (``Task.serving_outputs``) adds outputs after it."""
    import keras

    tmp = staging_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if preprocessor is not None:
        archive.track(preprocessor)  # its vocabulary tables are resources the SavedModel must hold
    names = metadata["outputs"]

    def serve(x):
        return named_outputs(model, names, preprocessor(x) if preprocessor is not None else x, serving_outputs)

    # ExportArchive (not tf.saved_model.save of a tf.Module): its variables convert;
    # the tf.Module route left READ_VARIABLE ops that int8 calibration failed on.
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=input_signature)
    archive.write_out(str(tmp), verbose=False)
    (tmp / "assets").mkdir(exist_ok=True)
    (tmp / "assets" / "edgesuite_metadata.json").write_text(json.dumps(metadata, indent=2))
    replace_atomically(tmp, path)
