"""``edgesuite.load(path)`` and ``Run.predict``: one prediction path for exported files and run directories.

A ``Predictor`` is a runtime (any exported format, or a run's Keras model in memory) and the metadata an
exported file carries; pre- and post-processing come from the app's numpy-only codec. On a board an
exported ``.tflite`` / ``.onnx`` therefore needs numpy, Pillow and the format's runtime (LiteRT,
onnxruntime), not TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

from edgesuite.common.errors import UserInputError
from edgesuite.common.log import warn


class Predictor:
    def __init__(self, runtime, metadata: dict, source: str | None = None):
        """``runtime``: an ``export.runtime.Runtime``; ``metadata``: what the exported file carries (or, for a
        run, its app's ``Serving.metadata``); ``source``: where it came from, for messages."""
        from edgesuite.apps import APPS, get_codec

        task = metadata.get("task")
        if task not in APPS:
            raise UserInputError(
                f"{source or runtime.path}: metadata names task {task!r}, which this edgesuite does not know"
            )
        self.runtime, self.metadata, self.task = runtime, metadata, task
        self.codec = get_codec(task)
        self.path = Path(source) if source else runtime.path

    @classmethod
    def open(cls, path, threads: int | None = None, safe_mode: bool = True) -> Predictor:
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

        Each result names its input (``input``: the file, the text, or ``input<i>`` for an array); ``save_dir``
        writes the app's per-input files (masks, drawn boxes); ``options``: the app's decoding options, e.g.
        ``beam_size=4`` for a translator.
        """
        if save_dir and not hasattr(self.codec, "save"):
            raise UserInputError(f"save_dir: {self.task} writes no per-input files")
        results = self.codec.postprocess(self.predict_raw(inputs, **options), self.metadata)
        items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        stems = _saved_stems(items) if save_dir else None
        for i, (item, r) in enumerate(zip(items, results)):
            if isinstance(item, (str, Path)):
                r["input"] = str(item)
            else:  # an array: named by its place, as its saved files are (input<i>_mask.png)
                r["input"], r["index"] = f"input{i}", i
            try:
                if save_dir:
                    r.update(self.codec.save(r, item, save_dir, self.metadata, stem=stems[i]))
                elif hasattr(self.codec, "annotate"):
                    self.codec.annotate(r, item, self.metadata)
            except ValueError as exc:
                raise UserInputError(str(exc)) from None
            except OSError as exc:  # save_dir a file, read-only, full (the CLI checks the first two up front)
                raise UserInputError(
                    f"{exc.filename or save_dir}: cannot write the outputs there ({exc.strerror or exc})"
                ) from None
        return results


def _saved_stems(items) -> list[str]:
    """``decode.output_stems`` of the inputs, saying on stderr when two inputs shared a name: their files are
    told apart (``a/000.png``, ``b/000.png`` -> ``a_000_mask.png``, ``b_000_mask.png``), none overwrites another."""

    from edgesuite.common.decode import output_stems

    stems = output_stems(items)
    renamed = [
        (item, stem) for item, stem in zip(items, stems) if isinstance(item, (str, Path)) and stem != Path(item).stem
    ]
    if renamed:
        shown = ", ".join(f"{item} -> {stem}" for item, stem in renamed[:4])
        more = f" (and {len(renamed) - 4} more)" if len(renamed) > 4 else ""
        warn(
            f"note: {len(renamed)} inputs share a file name with another input; their saved files are named by "
            f"folder or number instead, so that none overwrites another: {shown}{more}"
        )
    return stems


def load(path, threads: int | None = None, safe_mode: bool = True) -> Predictor:
    """Opens any exported model file, a run folder (its best model) or a Keras file inside one (``model.keras``);
    ``safe_mode=False`` allows Lambda layers in .keras/.h5 (trusted files only)."""
    path = Path(path)
    run = run_folder_of(path)
    if run is None:
        return Predictor.open(path, threads=threads, safe_mode=safe_mode)
    from edgesuite.api import Run  # a run folder means a training machine: TensorFlow is there
    from edgesuite.export.runtime import open_runtime

    opened = Run.open(run)
    if path.is_dir():
        return opened.predictor()
    # the run's own Keras files carry no metadata: the run's info says what an export of it would
    return Predictor(
        open_runtime(path, threads=threads, safe_mode=safe_mode), opened.task.serving.metadata(opened.info), str(path)
    )


def run_folder_of(path: Path) -> Path | None:
    """The run folder ``path`` is, or whose Keras file it is (``RUN/model.keras``, ``RUN/checkpoints/*.keras``);
    None for anything else, e.g. an exported file with its metadata beside it."""
    if path.is_dir():
        # exists(), not is_file(): a damaged run (config.yaml made a folder) is named as such by Run.open
        return path if (path / "config.yaml").exists() and not (path / "saved_model.pb").exists() else None
    if path.suffix.lower() not in (".keras", ".h5") or (path.parent / "metadata.json").exists():
        return None
    return next((d for d in (path.parent, path.parent.parent) if (d / "config.yaml").is_file()), None)
