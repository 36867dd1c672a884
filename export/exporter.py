"""``edgesuite export RUN_DIR``: rebuild in float32, write each format, verify each file.

The trained model may hold bf16/fp16 ops (mixed precision), which the TFLite
converter rejects, so the Task rebuilds the model under the float32 policy and
the trained weights are copied in first. Every file is written under a
temporary name and renamed when complete; a format that fails is reported and
the others go on.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from edgesuite.common import precision
from edgesuite.common.errors import UserInputError
from edgesuite.common.runs import ensure_writable_dir, write_json
from edgesuite.export import verify
from edgesuite.export.context import ExportContext
from edgesuite.export.formats import parse_formats


def rebuild_float32(task, cfg, info, trained):
    with precision.scope("float32", log=lambda _: None):
        model = task.final_model(task.build_model(cfg, info), cfg, info)
    model.set_weights(trained.get_weights())
    return model


def export_run(run, formats: str = "all", out: str | None = None, calibration_samples: int = 200,
               eval_samples: int = 500, log=print, provenance: dict | None = None) -> tuple[dict, bool]:
    """Writes the formats, verifies them, writes the report; returns (report, all ok).

    ``run``: an opened run (``edgesuite.api.Run``: ``path``, ``dir``, ``task``, ``config``, ``info``,
    ``load_model()``), handed in by the caller so that export needs nothing above ``common``; what the
    files carry and how they are checked is the app's ``Serving`` (``run.task.serving``);
    ``provenance``: what the metadata says about who exported it (the edgesuite version).
    """
    fmts = parse_formats(formats)
    if not run.dir.model_path.exists():
        raise UserInputError(f"{run.path}: the run has no model.keras to export "
                             f"(status: {run.dir.describe_status()})")
    out_dir = ensure_writable_dir(Path(out) if out else run.path / "export")
    task, cfg, info = run.task, run.config, run.info
    serving = task.serving
    model = rebuild_float32(task, cfg, info, run.load_model())
    metadata = {**serving.metadata(info), **(provenance or {}), "source_run": str(run.path),
                "exported": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(out_dir / "metadata.json", metadata)
    representative, (x, labels) = serving.export_data(cfg, info, calibration_samples, eval_samples)
    calibrated = len(representative[0] if isinstance(representative, tuple) else representative)
    if calibrated < calibration_samples:
        log(f"warning: asked for {calibration_samples} calibration samples, the training split has "
            f"{calibrated}; calibrating on those")
    # the task metric is judged on the labelled held-out inputs, which come first; agreement on all of them
    reference = serving.reference(model, x, metadata)
    metric_name, reference_metric = serving.parity_metric(reference[:len(labels)], labels, metadata)
    ctx = ExportContext(model, metadata, out_dir, representative, preprocessor=serving.preprocessor(info),
                        serving_outputs=lambda outputs: serving.serving_outputs(outputs, metadata),
                        serving_module=serving.serving_module(model, metadata),
                        coreml_outputs=lambda outputs: serving.coreml_outputs(outputs, metadata),
                        mediapipe_graph=lambda m: serving.mediapipe_graph(m, metadata))
    rows = []
    unsupported = serving.unsupported_formats()
    try:
        for fmt in fmts:
            if fmt.writer == "mediapipe" and fmt.name not in unsupported:
                from edgesuite.export import mediapipe

                why = mediapipe.applicability(metadata, layout="task")
                if why:
                    unsupported = {**unsupported, fmt.name: why}
            if fmt.name in unsupported:
                log(f"{fmt.name}: skipped ({unsupported[fmt.name]})")
                rows.append({"format": fmt.name, "status": "skipped", "note": unsupported[fmt.name]})
                continue
            rows.append(_export_one(ctx, fmt, out_dir, x, labels, reference, reference_metric, serving, log))
    finally:
        ctx.close()
    rows = _merge_with_previous(out_dir, run, rows)
    report = {"task": task.name, "source_run": str(run.path), "samples": int(len(x)),
              "labelled_samples": int(len(labels)), "metric_name": metric_name,
              "reference_metric": reference_metric, "calibration_samples": int(calibrated),
              "formats": rows}
    js, md = verify.write_report(out_dir, report)
    log(verify.table(rows, metric_name))
    log(f"report: {md}")
    return report, all(r["status"] in ("ok", "skipped") for r in rows)


def _merge_with_previous(out_dir: Path, run, rows: list[dict]) -> list[dict]:
    """Keeps the rows of formats exported earlier from the same run whose files are still there."""
    import json

    from edgesuite.export.formats import FORMATS

    previous = out_dir / "export_report.json"
    if not previous.exists():
        return rows
    try:
        old = json.loads(previous.read_text())
    except ValueError:
        return rows
    if old.get("source_run") != str(run.path):
        return rows
    fresh = {r["format"] for r in rows}
    kept = [r for r in old.get("formats", []) if r["format"] not in fresh and r["format"] in FORMATS
            and (out_dir / FORMATS[r["format"]].filename).exists()]
    order = list(FORMATS)
    return sorted(kept + rows, key=lambda r: order.index(r["format"]) if r["format"] in order else len(order))


def _export_one(ctx, fmt, out_dir, x, labels, reference, reference_metric, serving, log) -> dict:
    from edgesuite.export.runtime import open_runtime, run_inputs

    path = out_dir / fmt.filename
    row = {"format": fmt.name, "file": fmt.filename, "precision": fmt.precision}
    t0 = time.time()
    try:
        importlib.import_module(f"edgesuite.export.{fmt.writer}").write(ctx, fmt, path)
    except Exception as exc:
        log(f"{fmt.name}: failed ({exc.__class__.__name__}: {str(exc).splitlines()[0][:300]})")
        return {**row, "status": "failed", "note": f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:300]}"}
    row["size_mb"] = verify.size_mb(path)
    row["seconds"] = round(time.time() - t0, 1)
    if fmt.writer == "mediapipe":  # the Task's own layout: checked through the Task against the Keras model
        from edgesuite.export import mediapipe

        result = mediapipe.verify(path, ctx.metadata, x, reference, fmt.precision, serving.codec)
        log(f"{fmt.name}: {result['status']} ({row['size_mb']:.3f} MB; MediaPipe {result['mediapipe']})")
        return {**row, **result}
    if fmt.runtime == "coreml" and (not _coreml_predicts() or ctx.metadata.get("kind") == "detector"):
        from edgesuite.export.coreml import check_spec

        spec = check_spec(path, ctx.metadata)
        status = "ok" if not spec["problems"] else "exported-but-mismatch"
        why = "a Vision pipeline with NMS inside" if spec["nms"] else "Core ML predicts only on macOS"
        image = "image input, " if "imageType" in spec["inputs"].values() else ""
        return {**row, "status": status, "note": f"spec checked ({why}): {image}{spec['ops']} ops, {spec['labels']} labels"
                + ("; " + "; ".join(spec["problems"]) if spec["problems"] else "")}
    try:
        runtime = open_runtime(path)
        outputs = run_inputs(serving.codec, runtime, x, ctx.metadata)  # the codec's decoding loop, if it has one
    except Exception as exc:
        return {**row, "status": "failed", "note": f"written but not loadable: {exc}"}
    _, metric = serving.parity_metric(outputs[:len(labels)], labels, ctx.metadata)
    agreement = serving.parity_agreement(reference, outputs, ctx.metadata) if outputs.shape == reference.shape else 0.0
    result = verify.compare(reference, outputs, metric, reference_metric, fmt.precision, agreement,
                            limits=serving.parity_limits(fmt.precision), report_diff=serving.parity_numeric,
                            step=runtime.output_step)
    details = serving.parity_details(reference, outputs, ctx.metadata) if outputs.shape == reference.shape else ""
    details = "; ".join(n for n in (verify.agreement_note(result), details) if n)
    diff = (f"max |diff| {result['max_abs_diff']:.1e}" if result["max_abs_diff"] is not None
            else f"agreement {result['top1_agreement']:.3f}")
    log(f"{fmt.name}: {result['status']} ({row['size_mb']:.3f} MB, {diff}{', ' + details if details else ''})")
    note = "; ".join(n for n in (details, result.pop("why", "")) if n)
    if fmt.runtime == "tflite":
        from edgesuite.export import mediapipe

        row["mediapipe"] = mediapipe.check(path, ctx.metadata, x, outputs, fmt.precision, runtime.output_step)
        log(f"{fmt.name}: MediaPipe {row['mediapipe']}")
    return {**row, **result, "note": note}


def _coreml_predicts() -> bool:
    return sys.platform == "darwin"
