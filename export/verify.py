"""Parity of every exported file with the Keras model, and the report.

Each file is loaded back from disk and run on the same held-out inputs as the
float32 Keras model. Thresholds by precision: float32 max |diff| <= 1e-4 on
the outputs; float16 <= 1e-2; dynamic-range and int8: agreement >= 98 % (top-1
class by default, counted on every parity input, with the items whose two best
reference scores lie within the output's quantization step set aside; the task's
``parity_agreement``, e.g. detections found again) and the task metric, on the
labelled held-out inputs, within 1 point of the Keras model's.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

THRESHOLDS = {
    "float32": {"max_abs_diff": 1e-4},
    "float16": {"max_abs_diff": 1e-2},
    "dynamic": {"top1_agreement": 0.98, "metric_drop": 0.01},
    "int8": {"top1_agreement": 0.98, "metric_drop": 0.01},
}


def top1_agreement(reference: np.ndarray, outputs: np.ndarray, step: float = 0.0) -> dict:
    """Top-1 agreement of a format's class scores (the last axis) with the reference's, by counts: of items,
    or of pixels for a class map.

    An item on which the format picks another class is *borderline*, and not counted
    either way, when the reference scores that class within ``step`` of its own top-1:
    a quantized output (``step`` = its scale, 1/256 for uint8 probabilities) cannot
    tell the two apart, so the pick says nothing about the file. ``agreement`` is
    ``agree / compared`` over the other items.
    """
    if outputs.shape != reference.shape or not reference.size:
        return {"agreement": 0.0, "agree": 0, "compared": int(len(reference)), "borderline": 0}
    ref_top, out_top = reference.argmax(-1)[..., None], outputs.argmax(-1)[..., None]
    gap = (np.take_along_axis(reference, ref_top, -1) - np.take_along_axis(reference, out_top, -1))[..., 0]
    differ = (ref_top != out_top)[..., 0]
    borderline = differ & (gap < step)
    compared = int(differ.size - borderline.sum())
    agree = int((~differ).sum())
    return {
        "agreement": agree / compared if compared else 1.0,
        "agree": agree,
        "compared": compared,
        "borderline": int(borderline.sum()),
    }


def compare(
    reference: np.ndarray,
    outputs: np.ndarray,
    metric: float,
    reference_metric: float,
    precision: str,
    agreement: float | None = None,
    limits: dict | None = None,
    report_diff: bool = True,
    step: float = 0.0,
) -> dict:
    """One report row's numbers and its status: ok or exported-but-mismatch (with why).

    ``agreement``: the task's share of outputs that agree with the reference, or its counts
    (``Serving.parity_agreement``); None: the top-1 class agreement by counts
    (:func:`top1_agreement`, borderline items within the output's quantization ``step``
    set aside). ``limits``: the task's thresholds for this precision (default
    ``THRESHOLDS``); ``report_diff=False``: the outputs are not numbers to diff
    (decoded token ids).
    """
    diff = float(np.max(np.abs(outputs - reference))) if outputs.shape == reference.shape else float("inf")
    diff = diff if report_diff else None
    counts = {}
    if agreement is None:
        counts = top1_agreement(reference, outputs, step)
    elif isinstance(agreement, dict):  # the task's own counts (Serving.parity_agreement)
        counts = agreement
    if counts:
        agreement = counts["agreement"]
    agree = float(agreement)
    limits = limits or THRESHOLDS[precision]
    why = []
    if "max_abs_diff" in limits and diff is not None and not diff <= limits["max_abs_diff"]:
        why.append(f"max |diff| {diff:.2e} > {limits['max_abs_diff']:.0e}")
    if "top1_agreement" in limits and agree < limits["top1_agreement"]:
        of = f" ({counts['agree']} of {counts['compared']})" if counts else ""
        why.append(f"agreement {agree:.3f}{of} < {limits['top1_agreement']}")
    if "metric_drop" in limits and reference_metric - metric > limits["metric_drop"]:
        why.append(f"metric {metric:.4f} more than {limits['metric_drop']} below {reference_metric:.4f}")
    row = {
        "status": "ok" if not why else "exported-but-mismatch",
        "max_abs_diff": diff,
        "top1_agreement": agree,
        "metric": metric,
        "why": "; ".join(why),
    }
    if counts:
        row.update(
            agree=counts["agree"], compared=counts["compared"], borderline=counts["borderline"], output_step=float(step)
        )
    return row


def agreement_note(row: dict) -> str:
    """'agrees on 29 of 29, 1 within the output step 0.0039 set aside' for a row with counts."""
    if "compared" not in row:
        return ""
    note = f"agrees on {row['agree']} of {row['compared']}"
    if row["borderline"]:
        note += f", {row['borderline']} within the output step {row['output_step']:.2g} set aside"
    return note


def size_mb(path: Path) -> float:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    return path.stat().st_size / 1e6


def table(rows: list[dict], metric_name: str, columns=None) -> str:
    """Markdown table of report rows (also what the CLI prints)."""
    columns = columns or [
        ("format", "format", "{}"),
        ("status", "status", "{}"),
        ("size_mb", "size MB", "{:.3f}"),
        ("max_abs_diff", "max |diff|", "{:.2e}"),
        ("top1_agreement", "agreement", "{:.3f}"),
        ("metric", metric_name, "{:.4f}"),
        ("mediapipe", "MediaPipe", "{}"),
        ("browser", "browser", "{}"),
        ("note", "note", "{}"),
    ]
    lines = ["| " + " | ".join(c[1] for c in columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            if key == "status" and r.get("earlier"):  # a row kept from an earlier export of the same run
                v = f"{v} (earlier export)"
            cells.append("" if v is None else (fmt.format(v) if not isinstance(v, str) else v.replace("|", "/")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(out_dir: Path, report: dict) -> tuple[Path, Path]:
    js, md = out_dir / "export_report.json", out_dir / "export_report.md"
    tmp = js.with_name(js.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    os.replace(tmp, js)
    text = (
        f"# Export report: {report['task']} ({report['source_run']})\n\n"
        f"Parity on {report['samples']} inputs against the float32 Keras model; "
        f"{report['metric_name']} on the {report.get('labelled_samples', report['samples'])} labelled held-out "
        f"ones ({report['reference_metric']:.4f} for Keras).\n\n"
        + table(report["formats"], report["metric_name"])
        + "\n"
        + (
            "\nRows marked (earlier export) are files an earlier export of this run wrote and checked; this "
            "export did not touch them and its exit status does not count them.\n"
            if any(r.get("earlier") for r in report["formats"])
            else ""
        )
    )
    tmp = md.with_name(md.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, md)
    return js, md
