"""The Python face of ``edgesuite data check`` and ``edgesuite explain``.

result = edgesuite.check_data("image-classification", data="photos/", fix=True)
result.findings, result.rows(), result.dropped, result.path, result.fixed
shown = edgesuite.explain("saved_models/image-classification/latest", ["shirt.png"], save_dir="why/")
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

log = logging.getLogger("edgesuite")


def default_report_dir(task: str, cfg) -> Path:
    """``OUT/<task>/data-check-<data name>``."""
    data = getattr(cfg, "data", "") or getattr(cfg, "source_file", "") or "data"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(str(data)).name.rstrip("/") or "data")
    return Path(cfg.out) / task / f"data-check-{name}"


def check_data(
    task: str,
    out: str | None = None,
    fix: str | bool | None = None,
    label_errors: bool = True,
    config: str | None = None,
    **knobs,
):
    """Checks ``task``'s data (``knobs``: the train flags, ``data="path"``, ...) as a run would split it:
    duplicates, leakage across splits, label conflicts and suspected label errors, class balance and the app's
    own statistics. Writes the report folder (``out``, default ``OUT/<task>/data-check-<data>``) and, with
    ``fix`` (a folder, or True for ``<report>-cleaned``), a cleaned copy that ``train(data=...)`` takes.
    Returns a ``common.datacheck.CheckResult`` (findings as rows, sections with their numbers, dropped items)."""
    from edgesuite.api import quiet_tensorflow, resolve_config
    from edgesuite.apps import get_inspector
    from edgesuite.common import datacheck

    quiet_tensorflow()
    cfg = resolve_config(task, knobs, config)
    inspector = get_inspector(task)
    report = Path(out) if out else default_report_dir(task, cfg)
    fixed = None
    if fix:
        fixed = Path(fix) if isinstance(fix, (str, Path)) else report.with_name(report.name + "-cleaned")
        if fixed.resolve() == report.resolve():
            from edgesuite.common.errors import UserInputError

            raise UserInputError(f"--fix {fixed}: is the report folder; give the cleaned copy a folder of its own")
    from edgesuite.common.runs import check_output_dir

    check_output_dir(report, "--report")  # before the data is read: a file there is named now
    if fixed is not None:
        check_output_dir(fixed, "--fix")
    return datacheck.check(inspector, cfg, task, report, fixed, label_errors=label_errors)


def explain(
    run_or_file: str, inputs: list[str], save_dir: str | None = None, target: str | None = None, box: int | None = None
):
    """Why a model decided what it did, for each input: a heat map over the image (Grad-CAM on a run's Keras
    model; occlusion for an exported file), per-token attributions for text, the decoder's cross-attention for
    translation. ``target``: a class name to explain besides the top one (segmentation: the class; detection:
    ``box`` picks a detected box). Returns one dict per input (arrays and rows), and writes pictures to
    ``save_dir`` when given."""
    from edgesuite.apps import get_inspector

    task, model, predictor = _open(run_or_file)
    inspector = get_inspector(task)
    if save_dir:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    return inspector.explain(
        model, predictor, inputs, save_dir=Path(save_dir) if save_dir else None, target=target, box=box
    )


def _open(run_or_file: str):
    """``(task, Keras model or None, predictor)``: a run's Keras model (gradients) and its predictor, or the
    predictor of an exported file (no gradients: the app explains it by occlusion)."""
    from edgesuite.common.errors import UserInputError

    target = Path(run_or_file)
    if target.is_dir() and (target / "config.yaml").exists():
        from edgesuite.api import Run, quiet_tensorflow

        quiet_tensorflow()
        run = Run.open(run_or_file)
        return run.dir.task, run.load_model(), run.predictor()
    if not target.exists():
        raise UserInputError(f"{run_or_file}: no such run folder or model file")
    from edgesuite.predictor import load

    predictor = load(target)
    return predictor.task, None, predictor
