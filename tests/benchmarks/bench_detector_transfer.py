"""The detector with and without a pretrained backbone, within the same minutes on the embedded canvases.

    python tests/benchmarks/bench_detector_transfer.py [--minutes 5] [--width 0.35] [--work DIR]

No ImageNet weights can be downloaded here, so the backbone is pretrained offline: an image classifier with
``--model mobilenetv2`` trained on the embedded Fashion-MNIST subset (the items the canvases are made of,
greyscale repeated to RGB, 32 px), then passed to the detector as ``--weights RUN_DIR``. Rows, each trained
``--minutes`` (``--time-budget``) on the default canvases: the VGG-like default backbone, MobileNetV2 from
scratch, MobileNetV2 from the pretrained classifier (fine-tuned), and the same frozen for the first half.
Printed: test mAP@0.5 and mAP@[.5:.95], epochs, the best epoch by validation mAP@0.5. One run at a time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchlib import cpu_summary, edgesuite  # noqa: E402


def run(task: str, out: Path, name: str, args: list[str]) -> tuple[Path, float]:
    t0 = time.time()
    if edgesuite("train", task, "--out", str(out), "--name", name, *args).returncode:
        raise SystemExit(f"{name}: training failed")
    return out / task / name, time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--pretrain-minutes", type=float, default=3.0)
    ap.add_argument("--width", default="0.35")
    ap.add_argument("--work", default=None)
    args = ap.parse_args()
    out = Path(args.work or tempfile.mkdtemp(prefix="bench-dettransfer-"))
    print(f"host: {cpu_summary()}\nruns in {out}")
    clf, secs = run(
        "image-classification",
        out,
        "pretrain",
        [
            "--model",
            "mobilenetv2",
            "--width",
            args.width,
            "--image-size",
            "32",
            "--epochs",
            "40",
            "--time-budget",
            f"{args.pretrain_minutes:g}",
        ],
    )
    acc = json.loads((clf / "metrics.json").read_text())["accuracy"]
    print(f"pretrained backbone: MobileNetV2 x{args.width} classifier, test accuracy {acc:.4f} in {secs:.0f}s")
    budget = ["--time-budget", f"{args.minutes:g}"]
    half = None
    rows = []
    for name, extra in (
        ("vgg (default backbone), scratch", []),
        ("mobilenetv2, scratch", ["--backbone", "mobilenetv2", "--width", args.width]),
        (
            "mobilenetv2, pretrained, fine-tuned",
            ["--backbone", "mobilenetv2", "--width", args.width, "--weights", str(clf)],
        ),
        (
            "mobilenetv2, pretrained, frozen then fine-tuned",
            ["--backbone", "mobilenetv2", "--width", args.width, "--weights", str(clf), "--freeze-backbone"],
        ),
    ):
        if "frozen" in name:
            half = max(1, rows[-1][3] // 2)
            extra = extra + ["--fine-tune-after", str(half)]
        path, secs = run(
            "object-detection", out, name.split(",")[0].replace(" ", "-") + f"-{len(rows)}", extra + budget
        )
        m = json.loads((path / "metrics.json").read_text())
        state = json.loads((path / "checkpoints" / "state.json").read_text())
        maps = [r.get("val_map50", 0) for r in state["history"]]
        rows.append((name, m["map50"], m["map50_95"], len(maps), 1 + maps.index(max(maps)), secs))
    print(
        f"\n| detector ({args.minutes:g} min each) | test mAP@0.5 | mAP@[.5:.95] | epochs "
        "| best epoch (val mAP@0.5) | s |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, m50, m5095, epochs, best, secs in rows:
        print(
            f"| {name}{f' (unfrozen after {half})' if 'frozen' in name else ''} | {m50:.4f} | {m5095:.4f} | "
            f"{epochs} | {best} | {secs:.0f} |"
        )


if __name__ == "__main__":
    main()
