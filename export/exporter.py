"""``edgesuite export RUN_DIR``: rebuild in float32, write each format, verify each file.

The trained model may hold bf16/fp16 ops (mixed precision), which the TFLite
converter rejects, so the Task rebuilds the model under the float32 policy and
the trained weights are copied in first. Every file is written under a
temporary name and renamed when complete; a format that fails is reported and
the others go on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import threading
import time
from pathlib import Path

from edgesuite.common import precision
from edgesuite.common.config import Pretrained
from edgesuite.common.errors import UserInputError
from edgesuite.common.log import say
from edgesuite.common.runs import ensure_writable_dir, write_json
from edgesuite.export import verify
from edgesuite.export.context import ExportContext, remove_stale_staging
from edgesuite.export.formats import FORMATS, parse_formats


def rebuild_float32(task, cfg, info, trained):
    """The trained model rebuilt under float32 with its weights. The backbone is built without its pretrained
    source (``--weights none``): the trained weights replace all of them, and a run whose weights file, source
    run or wheel is gone since still exports."""
    if isinstance(cfg, Pretrained) and cfg.weights != "none":
        cfg = dataclasses.replace(cfg, weights="none")
    with precision.scope("float32", log=lambda _: None):
        model = task.final_model(task.build_model(cfg, info), cfg, info)
    model.set_weights(trained.get_weights())
    return model


def export_run(
    run,
    formats: str = "all",
    out: str | None = None,
    calibration_samples: int = 200,
    eval_samples: int = 500,
    log=say,
    provenance: dict | None = None,
) -> tuple[dict, bool]:
    """Writes the formats, verifies them, writes the report; returns (report, this export's formats all ok).

    ``run``: an opened run (``edgesuite.api.Run``: ``path``, ``dir``, ``task``, ``config``, ``info``,
    ``load_model()``), handed in by the caller so that export needs nothing above ``common``; what the
    files carry and how they are checked is the app's ``Serving`` (``run.task.serving``);
    ``provenance``: what the metadata says about who exported it (the edgesuite version).

    An export that stops before writing a format leaves nothing: no folder it made, no ``metadata.json``,
    the earlier report as it was. Once a file is written the report says what is verified, after each
    format and when interrupted (Ctrl-C, SIGTERM), the formats not reached marked ``interrupted``.
    """
    fmts = parse_formats(formats)
    if not run.dir.model_path.exists():
        raise UserInputError(f"{run.path}: the run has no model.keras to export (status: {run.dir.describe_status()})")
    task, cfg, info = run.task, run.config, run.info  # a damaged run file is named before anything is written
    out_dir = Path(out) if out else run.path / "export"
    made = _missing_folders(out_dir)
    ensure_writable_dir(out_dir)
    try:
        with _terminate_as_interrupt():
            return _export(run, fmts, out_dir, task, cfg, info, calibration_samples, eval_samples, log, provenance)
    finally:
        for folder in made:  # deepest first; one that holds anything stays
            try:
                folder.rmdir()
            except OSError:
                break


def _export(run, fmts, out_dir: Path, task, cfg, info, calibration_samples, eval_samples, log, provenance):
    serving = task.serving
    model = rebuild_float32(task, cfg, info, run.load_model())
    metadata = {
        **serving.metadata(info),
        **(provenance or {}),
        "source_run": str(run.path),
        "exported": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    representative, (x, labels) = serving.export_data(cfg, info, calibration_samples, eval_samples)
    calibrated = len(representative[0] if isinstance(representative, tuple) else representative)
    if calibrated < calibration_samples:
        log(
            f"warning: asked for {calibration_samples} calibration samples, the training split has "
            f"{calibrated}; calibrating on those"
        )
    # the task metric is judged on the labelled held-out inputs, which come first; agreement on all of them
    reference = serving.reference(model, x, metadata)
    metric_name, reference_metric = serving.parity_metric(reference[: len(labels)], labels, metadata)
    remove_stale_staging(out_dir)
    ctx = ExportContext(
        model,
        metadata,
        out_dir,
        representative,
        preprocessor=serving.preprocessor(info),
        serving_outputs=lambda outputs: serving.serving_outputs(outputs, metadata),
        serving_module=serving.serving_module(model, metadata),
        coreml_outputs=lambda outputs: serving.coreml_outputs(outputs, metadata),
        mediapipe_graph=lambda m: serving.mediapipe_graph(m, metadata),
    )
    header = {
        "task": task.name,
        "source_run": str(run.path),
        "samples": int(len(x)),
        "labelled_samples": int(len(labels)),
        "metric_name": metric_name,
        "reference_metric": reference_metric,
        "calibration_samples": int(calibrated),
    }
    metadata_path = out_dir / "metadata.json"
    had_metadata = metadata_path.exists()
    earlier_report = _snapshot(out_dir)

    def report_of(done: list[dict]) -> dict:  # the formats not reached yet read as interrupted
        left = [
            {
                "format": f.name,
                "file": f.filename,
                "status": "interrupted",
                "note": "the export stopped before this format was written and checked",
            }
            for f in fmts[len(done) :]
        ]
        return {**header, "formats": _merge_with_previous(out_dir, run, done + left)}

    rows: list[dict] = []
    wrote = False  # a file of this export is on disk: from now on the report always describes it
    try:
        for fmt in fmts:
            writer = importlib.import_module(f"edgesuite.export.{fmt.writer}")
            # the app's reason not to write this model in the format (its Serving's metadata: ``not_written``), or
            # the format's own (no MediaPipe Task for it, no npm)
            why = metadata.get("not_written", {}).get(fmt.name)
            why = why or (writer.skip_reason(metadata, log) if hasattr(writer, "skip_reason") else None)
            if why:
                log(f"{fmt.name}: skipped ({why})")
                rows.append({"format": fmt.name, "status": "skipped", "note": why})
                continue
            write_json(metadata_path, metadata)  # beside the files, before the first is written
            if wrote or earlier_report:  # a kill from here on leaves a report that says this format is unchecked
                verify.write_report(out_dir, report_of(rows))
            row = _export_one(ctx, fmt, out_dir, x, labels, reference, reference_metric, serving, log)
            rows.append(row)
            wrote = wrote or (row["status"] != "failed" and (out_dir / fmt.filename).exists())
            if wrote:
                verify.write_report(out_dir, report_of(rows))
    except BaseException:
        if wrote:
            verify.write_report(out_dir, report_of(rows))
        else:  # nothing of this export is on disk: leave the folder as it was
            _restore(out_dir, earlier_report)
            if not had_metadata:
                metadata_path.unlink(missing_ok=True)
        raise
    finally:
        ctx.close()
    report = report_of(rows)
    if not had_metadata and not any(
        (out_dir / FORMATS[r["format"]].filename).exists()
        for r in report["formats"]
        if r["status"] not in ("skipped", "failed")
    ):
        metadata_path.unlink(missing_ok=True)  # no model file to describe
    js, md = verify.write_report(out_dir, report)
    log(verify.table(report["formats"], metric_name))
    log(f"report: {md}")
    return report, all(r["status"] in ("ok", "skipped") for r in rows)


def _missing_folders(path: Path) -> list[Path]:
    """The folders ``ensure_writable_dir(path)`` will make, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


REPORT_FILES = ("export_report.json", "export_report.md")


def _snapshot(out_dir: Path) -> dict[str, bytes]:
    return {n: (out_dir / n).read_bytes() for n in REPORT_FILES if (out_dir / n).is_file()}


def _restore(out_dir: Path, snapshot: dict[str, bytes]) -> None:
    """Puts the report files back as they were before this export (or removes the ones it wrote)."""
    import os

    for name in REPORT_FILES:
        path = out_dir / name
        if name in snapshot:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(snapshot[name])
            os.replace(tmp, path)
        else:
            path.unlink(missing_ok=True)


_STOP_ASKED = threading.Event()  # set by Ctrl-C or SIGTERM during an export


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (``kill``, a job scheduler's time limit) ends an export as Ctrl-C does, so that its staging
    folder is removed and its report written; Python's default would end the process where it stands. Either
    signal is also recorded (:func:`_reraise_if_stopped`): raised inside a converter's C code, the
    KeyboardInterrupt can come out as another error (seen: TFLite's ``SystemError: Objects/listobject.c:338: bad
    argument to internal function``), which must not read as that format failing and the export going on."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        _STOP_ASKED.set()
        raise KeyboardInterrupt(f"signal {signum}")

    _STOP_ASKED.clear()
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        _STOP_ASKED.clear()


def _reraise_if_stopped(exc: BaseException) -> None:
    """A format's error that a stop signal caused (see :func:`_terminate_as_interrupt`) ends the export as the
    interrupt it was."""
    if _STOP_ASKED.is_set():
        raise KeyboardInterrupt("stopped by a signal") from exc


def _merge_with_previous(out_dir: Path, run, rows: list[dict]) -> list[dict]:
    """This export's rows and, marked ``earlier``, the rows of formats an earlier export of the same run wrote
    whose files are still there (they do not count in this export's exit status)."""
    import json

    previous = out_dir / "export_report.json"
    try:
        old = json.loads(previous.read_text(encoding="utf-8")) if previous.is_file() else {}
    except (OSError, ValueError):
        return rows  # an unreadable earlier report: this one replaces it
    if not isinstance(old, dict) or old.get("source_run") != str(run.path) or not isinstance(old.get("formats"), list):
        return rows
    fresh = {r["format"] for r in rows}
    kept = [
        {**r, "earlier": True}
        for r in old["formats"]
        if isinstance(r, dict)
        and r.get("format") in FORMATS
        and r["format"] not in fresh
        and r.get("status") != "skipped"
        and (out_dir / FORMATS[r["format"]].filename).exists()
    ]
    order = list(FORMATS)
    return sorted(kept + rows, key=lambda r: order.index(r["format"]) if r["format"] in order else len(order))


def _export_one(ctx, fmt, out_dir, x, labels, reference, reference_metric, serving, log) -> dict:
    from edgesuite.export.runtime import open_runtime, run_inputs

    path = out_dir / fmt.filename
    row = {"format": fmt.name, "file": fmt.filename, "precision": fmt.precision}
    t0 = time.time()
    try:
        writer = importlib.import_module(f"edgesuite.export.{fmt.writer}")
        writer.write(ctx, fmt, path)
    except Exception as exc:
        _reraise_if_stopped(exc)
        log(f"{fmt.name}: failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:300]})")
        return {**row, "status": "failed", "note": f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}"}
    row["size_mb"] = verify.size_mb(path)
    row["seconds"] = round(time.time() - t0, 1)
    if hasattr(writer, "verify"):  # a format checked its own way (a MediaPipe Task; a Core ML spec off macOS)
        result = writer.verify(ctx, fmt, path, x, reference, serving.codec)
        if result is not None:
            said = f"MediaPipe {result['mediapipe']}" if "mediapipe" in result else result.get("note", "")
            log(f"{fmt.name}: {result['status']} ({row['size_mb']:.3f} MB; {said})")
            return {**row, **result}
    try:
        runtime = open_runtime(path)
        outputs = run_inputs(serving.codec, runtime, x, ctx.metadata)  # the codec's decoding loop, if it has one
    except Exception as exc:
        _reraise_if_stopped(exc)
        return {**row, "status": "failed", "note": f"written but not loadable: {exc}"}
    _, metric = serving.parity_metric(outputs[: len(labels)], labels, ctx.metadata)
    step = runtime.output_step
    agreement = (
        serving.parity_agreement(reference, outputs, ctx.metadata, step=step)
        if outputs.shape == reference.shape
        else 0.0
    )
    result = verify.compare(
        reference,
        outputs,
        metric,
        reference_metric,
        fmt.precision,
        agreement,
        limits=serving.parity_limits(fmt.precision),
        report_diff=serving.parity_numeric,
        step=step,
    )
    details = serving.parity_details(reference, outputs, ctx.metadata) if outputs.shape == reference.shape else ""
    details = "; ".join(n for n in (verify.agreement_note(result), details) if n)
    diff = (
        f"max |diff| {result['max_abs_diff']:.1e}"
        if result["max_abs_diff"] is not None
        else f"agreement {result['top1_agreement']:.3f}"
    )
    log(f"{fmt.name}: {result['status']} ({row['size_mb']:.3f} MB, {diff}{', ' + details if details else ''})")
    note = "; ".join(n for n in (details, result.pop("why", "")) if n)
    if hasattr(writer, "check_in_client"):  # the file's own client beside edgesuite's runtime (MediaPipe, Chromium)
        cells = writer.check_in_client(
            path, ctx.metadata, x, outputs, fmt.precision, serving.codec, log, step=runtime.output_step
        )
        mismatch = cells.pop("status", None)
        if mismatch and result["status"] == "ok":
            result["status"], note = mismatch, "; ".join(n for n in (note, "the browser disagrees") if n)
        row.update(cells)
    return {**row, **result, "note": note}
