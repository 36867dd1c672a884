"""The ``web`` format: a static page that runs the model in a browser, checked in headless Chromium.

``export/web/`` holds everything a static web server needs, nothing fetched from elsewhere:

    index.html, edgesuite.js   the page: pick an image or type a text, see what ``edgesuite predict`` shows
    apps.js, text.js           per task (the metadata's ``task``): the decoding of the app's postprocess.py
                               in JavaScript, the WordPiece encoder, the translator's greedy loop
    model.onnx                 the ONNX file, as the ``onnx`` format writes it
    metadata.json              the export metadata, plus ``web``: the runtime and the model's input/output names
    runtime/                   ONNX Runtime Web's wasm build (``onnxruntime-web``, pinned), copied from npm's copy
                               in the edgesuite cache at export time
    screenshot.png             the page showing one checked input, taken by the browser check

One runtime for every app: ONNX Runtime Web runs the same ``model.onnx`` for all five (uint8 images, token ids,
the translator's step model), where LiteRT.js has no kernels for the tensorflow-text ops of the string
``.tflite`` files and MediaPipe's web Tasks cover neither the detector's own outputs nor translation.

The check (:func:`check_in_client`, called by the exporter after the file's Python parity): the exporter
serves the folder on 127.0.0.1, opens ``index.html?check=...`` in headless Chromium, which runs the held-out
parity inputs (at the model's size: nothing is resized) through the page's own code, and compares the
page's ``window.__results`` with edgesuite's runtime on the same ``model.onnx``: the same top-1 on >= 99 %
(int8 >= 98 %), every detection found again (same class, IoU >= 0.9) on >= 99 %, >= 99 % of mask pixels,
identical translations on >= 2/3.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgesuite.common.log import say

PAGE = Path(__file__).with_name("web_page")
# the pinned runtime (the page is checked against this build) and the files of it the page loads; .ci/run reads it too
_PINNED = json.loads((PAGE / "runtime.json").read_text(encoding="utf-8"))
RUNTIME = (_PINNED["package"], _PINNED["version"])
RUNTIME_FILES = tuple(_PINNED["files"])
PAGE_FILES = ("index.html", "edgesuite.js", "apps.js", "text.js")
CHECK_INPUTS = 48  # parity inputs the page runs: enough for the thresholds, seconds in the browser
CHECK_PATH = "/__check/inputs.json"


def cache_dir() -> Path:
    """$EDGESUITE_CACHE, else $XDG_CACHE_HOME/edgesuite, else ~/.cache/edgesuite (the pretrained weights' too)."""
    if os.environ.get("EDGESUITE_CACHE"):
        return Path(os.environ["EDGESUITE_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgesuite"


def runtime_root() -> Path:
    return cache_dir() / "web-runtime"


def _installed(root: Path) -> Path | None:
    package = root / "node_modules" / RUNTIME[0]
    try:
        version = json.loads((package / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError):
        return None
    dist = package / "dist"
    return dist if version == RUNTIME[1] and all((dist / f).is_file() for f in RUNTIME_FILES) else None


def runtime_dist(log=say) -> Path | str:
    """The pinned onnxruntime-web's ``dist/`` in the cache, installed with npm on first use; else why not."""
    root = runtime_root()
    found = _installed(root)
    if found:
        return found
    npm = shutil.which("npm")
    if not npm:
        return (
            f"npm not found to fetch {RUNTIME[0]}@{RUNTIME[1]} (apt-get install npm, or npm install --prefix "
            f"{root} {RUNTIME[0]}@{RUNTIME[1]} on a machine that has it)"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        with open(root / ".install-lock", "w") as lock:  # two exports at once (test workers) install once
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = _installed(root)
            if found:
                return found
            log(f"web: installing {RUNTIME[0]}@{RUNTIME[1]} into {root} (once)")
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(root),
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--loglevel=error",
                    f"{RUNTIME[0]}@{RUNTIME[1]}",
                ],
                capture_output=True,
                text=True,
                timeout=300,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"npm install {RUNTIME[0]}@{RUNTIME[1]} failed ({exc.__class__.__name__}: {exc})"
    found = _installed(root)
    if done.returncode or not found:
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        said = lines[-1][:200] if lines else f"exit {done.returncode}"
        return f"npm install {RUNTIME[0]}@{RUNTIME[1]} failed ({said})"
    return found


def skip_reason(metadata: dict, log=say) -> str | None:
    """Why the folder cannot be written on this machine (no npm, no package), before anything is written."""
    found = runtime_dist(log)
    return None if isinstance(found, Path) else found


def casefold_table() -> dict[str, str]:
    """The characters whose Unicode case folding (Python's ``str.casefold``, which the WordPiece normalization
    uses) differs from lower-casing (JavaScript's ``toLowerCase``): ß -> ss, ς -> σ, ..."""
    table = {}
    for cp in range(0x1F000):  # past the last cased letter
        ch = chr(cp)
        if ch.casefold() != ch.lower():
            table[ch] = ch.casefold()
    return table


def write(ctx, fmt, path: Path) -> None:
    """``path`` is ``web/model.onnx``: the whole folder is made in the staging folder and renamed at the end."""
    import onnx

    from edgesuite.export import onnx_format
    from edgesuite.export.context import replace_atomically
    from edgesuite.export.runtime import main_output

    dist = runtime_dist()
    if not isinstance(dist, Path):
        raise RuntimeError(dist)
    folder = path.parent
    tmp = ctx._staging(folder.name)  # in the export's staging folder: removed on any exit, or by the next export
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "runtime").mkdir(parents=True)
        for name in PAGE_FILES:
            shutil.copyfile(PAGE / name, tmp / name)
        for name in RUNTIME_FILES:
            shutil.copyfile(dist / name, tmp / "runtime" / name)
        licence = dist.parent / "LICENSE"
        if licence.is_file():
            shutil.copyfile(licence, tmp / "runtime" / "LICENSE")
        onnx_format.write(ctx, fmt, tmp / path.name)
        graph = onnx.load(str(tmp / path.name), load_external_data=False).graph
        weights = {init.name for init in graph.initializer}
        web = {
            "runtime": RUNTIME[0],
            "runtime_version": RUNTIME[1],
            "model": path.name,
            "inputs": [i.name for i in graph.input if i.name not in weights],
            "output": main_output([o.name for o in graph.output]),
        }
        if any(key in ctx.metadata for key in ("tokenizer", "source_tokenizer")):
            web["casefold"] = casefold_table()
        page_metadata = json.dumps({**ctx.metadata, "web": web}, ensure_ascii=False)
        (tmp / "metadata.json").write_text(page_metadata, encoding="utf-8")
        replace_atomically(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the browser check ------------------------------------------------------------------------------------


def _inputs_json(x, metadata: dict, show: int) -> bytes:
    if metadata["input"]["dtype"] == "string":
        return json.dumps({"texts": [str(t) for t in x], "show": show}).encode()
    images = [base64.b64encode(np.ascontiguousarray(im, np.uint8).tobytes()).decode() for im in x]
    return json.dumps({"images": images, "show": show}).encode()


def _shown(outputs, metadata: dict, codec) -> int:
    """The checked input the screenshot shows: the detector's image with the most confident objects, else the first."""
    if metadata.get("kind") != "detector" or not len(outputs):
        return 0
    return int(np.argmax([(d["scores"] >= 0.3).sum() for d in codec.detections(outputs, metadata)]))


def _same_top1(items, outputs, x, metadata, codec, floor):
    got = np.asarray([it["probs"] for it in items], np.float32)
    same = got.argmax(-1) == outputs.argmax(-1)
    text = (
        f"top-1 same on {int(same.sum())} of {len(same)}, max |diff| "
        f"{float(np.max(np.abs(got - outputs))) if got.size else 0.0:.1e}"
    )
    if metadata["input"]["dtype"] == "string":  # the page's WordPiece ids against edgesuite's encoder
        ids = codec.preprocess([str(t) for t in x], metadata, "int32")
        equal = sum(np.array_equal(np.asarray(it["token_ids"]), row) for it, row in zip(items, ids))
        text += f"; token ids equal on {equal} of {len(items)}"
    return float(same.mean()), floor, text


def _same_detections(items, outputs, x, metadata, codec, floor):
    found = total = 0
    ious = []
    for item, want in zip(items, codec.detections(outputs, metadata)):
        boxes, classes = np.asarray(item["boxes"], np.float64).reshape(-1, 4), np.asarray(item["classes"])
        for box, cls in zip(want["boxes"], want["classes"]):
            total += 1
            same = classes == cls
            best = codec.iou_matrix(box[None], boxes[same]).max() if same.any() else 0.0
            if best >= 0.9:
                found += 1
                ious.append(best)
    share = found / total if total else 1.0
    return (
        share,
        0.99,
        (
            f"{found} of {total} detections found again (same class, IoU >= 0.9; median IoU "
            f"{np.median(ious) if ious else 0:.3f})"
        ),
    )


def _same_masks(items, outputs, x, metadata, codec, floor):
    want = outputs.argmax(-1).astype(np.uint8)
    got = np.stack([np.frombuffer(base64.b64decode(it["class_map"]), np.uint8) for it in items]).reshape(want.shape)
    share = float(np.mean(got == want))
    return share, 0.99, f"class map same on {share:.2%} of {want.size} pixels"


def _same_translations(items, outputs, x, metadata, codec, floor):
    same = [codec.strip_ids(it["ids"]) == codec.strip_ids(row) for it, row in zip(items, np.asarray(outputs, np.int64))]
    return float(np.mean(same)) if same else 1.0, 2 / 3, f"translations identical on {sum(same)} of {len(same)}"


COMPARE = {
    "classifier": _same_top1,
    "detector": _same_detections,
    "segmenter": _same_masks,
    "translator": _same_translations,
}


def check_in_client(
    path: Path, metadata: dict, x, outputs, precision: str, codec, log=say, limit: int = CHECK_INPUTS, step: float = 0.0
) -> dict:
    """The page in headless Chromium on the first ``limit`` parity inputs against ``outputs`` (edgesuite's
    runtime on the same ``model.onnx``): the report's ``browser`` cell, ``status`` when it mismatches, and the
    page's timings. Writes ``screenshot.png`` into the folder."""
    from edgesuite.export import browser

    paths = browser.chromium_paths()
    if isinstance(paths, str):
        return {"browser": f"not run: {paths}"}
    n = min(limit, len(x))
    folder, outputs = path.parent, np.asarray(outputs[:n])
    show = _shown(outputs, metadata, codec)
    try:
        with (
            browser.serving(folder, {CHECK_PATH: _inputs_json(x[:n], metadata, show)}) as url,
            browser.headless_chromium(paths, under=folder.parent) as driver,
        ):
            found = browser.run_page(driver, f"{url}index.html?check={CHECK_PATH}")
            picture = browser.screenshot(driver) if "error" not in found else None
    except browser.BrowserUnavailable as exc:
        return {"browser": f"not run: {exc}"}
    except Exception as exc:  # the page hung, or the driver lost it
        return {
            "browser": f"failed: {exc.__class__.__name__}: {str(exc).strip().splitlines()[0][:300]}",
            "status": "exported-but-mismatch",
        }
    if "error" in found:
        return {
            "browser": f"failed: the page says {found['error'].splitlines()[0][:300]}",
            "status": "exported-but-mismatch",
        }
    if picture:
        tmp = folder / ".screenshot.png.partial"
        tmp.write_bytes(picture)
        os.replace(tmp, folder / "screenshot.png")
    floor = 0.98 if precision == "int8" else 0.99
    share, floor, text = COMPARE[metadata["kind"]](found["items"], outputs, x[:n], metadata, codec, floor)
    ok = len(found["items"]) == n and share >= floor
    times = found["times_ms"]
    where = f"{found['runtime']} {found['runtime_version']} in {browser.chromium_version(paths[0])}"
    cell = (
        "ok: " if ok else f"mismatch (< {floor:.0%}): "
    ) + f"{where}: {text}; model ready in {found['load_ms']:.0f} ms, median {np.median(times):.1f} ms per input"
    log(f"web: browser {cell}")
    row = {
        "browser": cell,
        "browser_ms": {
            "load": round(found["load_ms"], 1),
            "first_result": round(found["first_result_ms"], 1),
            "median": round(float(np.median(times)), 2),
        },
    }
    return row if ok else {**row, "status": "exported-but-mismatch"}
