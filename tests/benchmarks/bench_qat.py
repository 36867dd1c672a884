"""Quantization-aware training: is there a maintained path for Keras 3 models to a builtin-ops int8 ``.tflite``,
and how far is post-training int8 from float on each app?

    python tests/benchmarks/bench_qat.py [--apps image-classification ...] [--minutes 3] [--work DIR]

1. ``tensorflow-model-optimization`` (the TF QAT library): whether it is installed, and what its
   ``quantize_model`` does with a Keras 3 model (it is written for Keras 2 / tf_keras).
2. ``keras.quantizers.fake_quant_with_min_max_vars`` (Keras 3.15): a small Keras 3 model with FakeQuant on its
   activations, converted as the exporter converts (SavedModel, ``TFLiteConverter``, ``Optimize.DEFAULT``, no
   representative set): the file's op types and the dtypes of its tensors. The ranges reach the converter, but
   only where a layer is wrapped by hand: Keras 3 has no layer-wrapping API (tfmot's ``QuantizeConfig`` /
   ``quantize_annotate``) to put them on every kernel and activation, fold BatchNorm first and train them.
3. The post-training gap per app: each app's default recipe trained ``--minutes`` on its embedded data, exported
   to ``tflite`` and ``tflite-int8``, and the task metric of each file on the held-out parity set (the export
   report's figures).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, edgesuite  # noqa: E402

APPS = ("image-classification", "text-classification", "segmentation", "object-detection", "translation")


def probe_tfmot() -> str:
    code = (
        "import keras, tensorflow_model_optimization as tfmot\n"
        "m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)])\n"
        "try:\n    tfmot.quantization.keras.quantize_model(m); print('quantize_model: accepted a Keras 3 model')\n"
        "except Exception as e:\n    print('quantize_model on a Keras 3 model:', type(e).__name__, str(e)[:200])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if "No module named 'tensorflow_model_optimization'" in proc.stderr:
        return (
            "not installed (to probe it, `pip install tensorflow-model-optimization` in a throwaway copy of "
            "the venv: it pins absl-py 1.4, which breaks mediapipe; 0.8.1 answered: ValueError `to_quantize` "
            "can only either be a keras Sequential or Functional model)"
        )
    lines = proc.stderr.strip().splitlines()
    return proc.stdout.strip() or (lines[-1] if lines else f"exit {proc.returncode}")


def probe_fake_quant(work: Path) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers

    class FakeQuant(layers.Layer):
        def __init__(self, low, high, **kwargs):
            super().__init__(**kwargs)
            self.low, self.high = low, high

        def call(self, x):
            return keras.quantizers.fake_quant_with_min_max_vars(x, self.low, self.high, num_bits=8)

    inputs = keras.Input((16, 16, 3))
    x = FakeQuant(-1.0, 1.0)(inputs)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = FakeQuant(0.0, 6.0)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = FakeQuant(0.0, 6.0)(x)
    x = layers.Dense(4)(x)
    out = FakeQuant(-8.0, 8.0)(x)
    model = keras.Model(inputs, out)
    saved = work / "fq_savedmodel"
    model.export(str(saved), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    blob = converter.convert()
    interp = tf.lite.Interpreter(model_content=blob)
    interp.allocate_tensors()
    ops = sorted({op["op_name"] for op in interp._get_ops_details()})
    dtypes = {}
    for t in interp.get_tensor_details():
        dtypes[np.dtype(t["dtype"]).name] = dtypes.get(np.dtype(t["dtype"]).name, 0) + 1
    return {
        "ops": ops,
        "tensor_dtypes": dtypes,
        "input": np.dtype(interp.get_input_details()[0]["dtype"]).name,
        "output": np.dtype(interp.get_output_details()[0]["dtype"]).name,
    }


def ptq_gap(app: str, work: Path, minutes: float) -> dict:
    proc = edgesuite("train", app, "--out", str(work), "--name", "qat", "--time-budget", f"{minutes:g}")
    run = work / app / "qat"
    if proc.returncode:
        return {"app": app, "error": f"training failed ({proc.returncode})"}
    edgesuite("export", str(run), "--formats", "tflite,tflite-int8")
    report = json.loads((run / "export" / "export_report.json").read_text())
    rows = {r["format"]: r for r in report["formats"]}
    return {
        "app": app,
        "metric": report["metric_name"],
        "keras": report["reference_metric"],
        "float": rows.get("tflite", {}).get("metric"),
        "int8": rows.get("tflite-int8", {}).get("metric"),
        "status": rows.get("tflite-int8", {}).get("status"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--apps", nargs="*", default=list(APPS), choices=APPS)
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget per app")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-qat-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"host: {cpu_summary()}")
    print(f"1. tensorflow-model-optimization: {probe_tfmot()}")
    fq = probe_fake_quant(work)
    print(
        f"2. FakeQuant on activations only, converted with Optimize.DEFAULT: ops {', '.join(fq['ops'])}; tensors "
        f"{fq['tensor_dtypes']}; input {fq['input']}, output {fq['output']}"
    )
    print(f"\n3. post-training int8 against float ({args.minutes:g} min of training per app, runs in {work})\n")
    print("| app | metric | Keras | float32 .tflite | int8 .tflite | int8 - Keras |")
    print("| --- | --- | --- | --- | --- | --- |")
    for app in args.apps:
        r = ptq_gap(app, work, args.minutes)
        if "error" in r:
            print(f"| {app} | {r['error']} | | | | |")
            continue
        gap = r["int8"] - r["keras"] if isinstance(r["int8"], float) and isinstance(r["keras"], float) else None
        fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)  # noqa: E731
        print(
            f"| {app} | {r['metric']} | {fmt(r['keras'])} | {fmt(r['float'])} | {fmt(r['int8'])} | "
            f"{'' if gap is None else f'{gap:+.4f}'} |"
        )


if __name__ == "__main__":
    main()
