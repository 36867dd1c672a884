"""``edgesuite.load(path)``: one Predictor over every exported format.

Pre- and post-processing come from the file's metadata and the app's numpy-only
``postprocess`` module, so on a board this needs numpy, Pillow and the format's
runtime (LiteRT for ``.tflite``, onnxruntime for ``.onnx``) — not TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from edgesuite.common.errors import UserInputError


class Predictor:
    def __init__(self, path, threads: int | None = None, safe_mode: bool = True):
        from edgesuite.apps import APPS, get_codec
        from edgesuite.export.runtime import open_runtime, read_metadata

        self.path = Path(path)
        self.runtime = open_runtime(self.path, threads=threads, safe_mode=safe_mode)
        self.metadata = read_metadata(self.path)
        task = self.metadata.get("task")
        if task not in APPS:
            raise UserInputError(f"{path}: metadata names task {task!r}, which this edgesuite does not know")
        self._codec = get_codec(task)

    def predict_raw(self, inputs, **options):
        from edgesuite.export.runtime import run_inputs

        try:
            return run_inputs(self._codec, self.runtime, inputs, self.metadata, **options)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None

    def predict(self, inputs, **options) -> list[dict]:
        """Files, arrays or texts in, decoded results out (labels and scores for classifiers, translations).

        ``options``: the app's decoding options, e.g. ``beam_size=4`` for a translator.
        """
        return self._codec.postprocess(self.predict_raw(inputs, **options), self.metadata)


def load(path, threads: int | None = None, safe_mode: bool = True) -> Predictor:
    """Opens any exported model file; ``safe_mode=False`` allows Lambda layers in .keras/.h5 (trusted files only)."""
    return Predictor(path, threads=threads, safe_mode=safe_mode)
