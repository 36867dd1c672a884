"""The int8 parity gate: agreement by counts, borderline items within the output's quantization step set
aside, on more inputs than a small test split holds; a clear disagreement still fails the export."""

import json

import numpy as np
import pytest

from edgesuite.export import verify

STEP = 1 / 256  # the scale of a uint8 probability output


def _scores(n=30, borderline=(), seed=0):
    """n confident 3-class rows; the rows in ``borderline`` have their two best classes 0.001 apart."""
    rng = np.random.default_rng(seed)
    ref = np.full((n, 3), 0.1, np.float32)
    ref[np.arange(n), rng.integers(0, 3, n)] = 0.8
    for i in borderline:
        ref[i] = [0.4005, 0.3995, 0.2]
    return ref


def _flip(ref, i):
    out = ref.copy()
    top = int(ref[i].argmax())
    other = int(np.argsort(ref[i])[-2])
    out[i, [top, other]] = out[i, [other, top]]
    return out


def test_a_disagreement_within_the_quantization_step_is_set_aside_and_counted():
    ref = _scores(borderline=[4])
    row = verify.compare(ref, _flip(ref, 4), 0.9, 0.9, "int8", step=STEP)
    assert row["status"] == "ok", row["why"]
    assert (row["agree"], row["compared"], row["borderline"]) == (29, 29, 1)
    assert verify.agreement_note(row) == "agrees on 29 of 29, 1 within the output step 0.0039 set aside"


def test_a_clear_disagreement_fails_the_gate_with_its_counts():
    ref = _scores(borderline=[4])
    row = verify.compare(ref, _flip(ref, 7), 0.9, 0.9, "int8", step=STEP)
    assert row["status"] == "exported-but-mismatch"
    assert "agreement 0.967 (29 of 30) < 0.98" in row["why"]
    # a float file has no step: the borderline item counts as a disagreement there
    row = verify.compare(ref, _flip(ref, 4), 0.9, 0.9, "dynamic", step=0.0)
    assert row["status"] == "exported-but-mismatch" and row["borderline"] == 0


@pytest.mark.parametrize("flipped, ok", [(29, True), (28, False)])
def test_the_exporter_judges_a_30_item_split_by_the_int8_files_own_step(
    trained_run, tmp_path, monkeypatch, flipped, ok
):
    """Through the exporter: the step comes from the written int8 file's output quantization; the 120-image
    run's 12 test images are topped up to 30 from the other splits, and the flips fall outside the labelled
    ones, so the accuracy check (which stays) sees no change."""
    import edgesuite
    from edgesuite.apps.image_classification.serving import ImageClassificationServing

    ref = _scores(borderline=[29])
    monkeypatch.setattr(ImageClassificationServing, "reference", lambda self, model, x, metadata: ref[: len(x)])
    monkeypatch.setattr(
        "edgesuite.export.runtime.run_inputs", lambda codec, runtime, x, metadata: _flip(ref, flipped)[: len(x)]
    )
    report = edgesuite.open_run(str(trained_run)).export(
        "tflite-int8", str(tmp_path), calibration_samples=16, eval_samples=30, log=lambda _: None
    )
    all_ok = report["ok"]
    row = report["formats"][0]
    from edgesuite.export.runtime import open_runtime

    file_step = open_runtime(tmp_path / row["file"]).output_step  # 1/256 for a softmax output, calibrated otherwise
    assert report["samples"] == 30 and report["labelled_samples"] < 28
    assert 0 < file_step < 0.01 and row["output_step"] == pytest.approx(file_step)
    assert all_ok is ok and (row["status"] == "ok") is ok, row
    saved = json.loads((tmp_path / "export_report.json").read_text())["formats"][0]
    assert saved["compared"] == (29 if ok else 30) and saved["borderline"] == (1 if ok else 0)
