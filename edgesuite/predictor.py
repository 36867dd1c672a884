"""``edgesuite.load(path)`` and ``Run.predict``: one prediction path for exported files and run directories.

A ``Predictor`` is a runtime (any exported format, or a run's Keras model in memory) and the metadata an
exported file carries; pre- and post-processing come from the app's numpy-only codec. On a board an
exported ``.tflite`` / ``.onnx`` therefore needs numpy, Pillow and the format's runtime (LiteRT,
onnxruntime), not TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from edgesuite.common.errors import UserInputError


class Predictor:
    def __init__(self, runtime, metadata: dict, source: str | None = None):
        """``runtime``: an ``export.runtime.Runtime``; ``metadata``: what the exported file carries (or, for a
        run, its app's ``Serving.metadata``); ``source``: where it came from, for messages."""
        from edgesuite.apps import APPS, get_codec

        task = metadata.get("task")
        if task not in APPS:
            raise UserInputError(f"{source or runtime.path}: metadata names task {task!r}, which this edgesuite "
                                 "does not know")
        self.runtime, self.metadata, self.task = runtime, metadata, task
        self.codec = get_codec(task)
        self.path = Path(source) if source else runtime.path

    @classmethod
    def open(cls, path, threads: int | None = None, safe_mode: bool = True) -> "Predictor":
        from edgesuite.export.runtime import open_runtime, read_metadata

        return cls(open_runtime(path, threads=threads, safe_mode=safe_mode), read_metadata(path), str(path))

    def predict_raw(self, inputs, **options):
        """The format's raw outputs (what parity compares), through the codec's decoding loop if it has one."""
        from edgesuite.export.runtime import run_inputs

        try:
            return run_inputs(self.codec, self.runtime, inputs, self.metadata, **options)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None

    def predict(self, inputs, save_dir: str | None = None, **options) -> list[dict]:
        """Files, arrays or texts in, decoded results out (labels and scores, boxes, masks, translations).

        Each result names its input (``input``: the file, the text, or ``input<i>`` for an array); ``save_dir`` writes the app's per-input files
        (masks, drawn boxes); ``options``: the app's decoding options, e.g. ``beam_size=4`` for a translator.
        """
        if save_dir and not hasattr(self.codec, "save"):
            raise UserInputError(f"save_dir: {self.task} writes no per-input files")
        results = self.codec.postprocess(self.predict_raw(inputs, **options), self.metadata)
        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        for i, (item, r) in enumerate(zip(items, results)):
            if isinstance(item, (str, Path)):
                r["input"] = str(item)
            else:  # an array: named by its place, as its saved files are (input<i>_mask.png)
                r["input"], r["index"] = f"input{i}", i
            try:
                if save_dir:
                    r.update(self.codec.save(r, item, save_dir, self.metadata))
                elif hasattr(self.codec, "annotate"):
                    self.codec.annotate(r, item)
            except ValueError as exc:
                raise UserInputError(str(exc)) from None
        return results


def load(path, threads: int | None = None, safe_mode: bool = True) -> Predictor:
    """Opens any exported model file; ``safe_mode=False`` allows Lambda layers in .keras/.h5 (trusted files only)."""
    return Predictor.open(path, threads=threads, safe_mode=safe_mode)
