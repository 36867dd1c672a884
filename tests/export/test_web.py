"""The ``web`` export: the page's JavaScript decodes as the apps' numpy code does, headless Chromium runs a page
here, ``edgesuite serve`` serves a folder without TensorFlow, and a failed or impossible export leaves nothing.

Every app's own page runs its parity inputs in Chromium in its contract cycle (``tests/cycle.py``, on the
all-format export of the app's shared test run). Where Chromium, node or npm is missing these tests skip and say
why, unless ``$EDGESUITE_REQUIRE_BROWSER`` is set (CI installs them), where they fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgesuite.export import browser, web

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = bool(os.environ.get("EDGESUITE_REQUIRE_BROWSER"))


def _missing(why: str):
    if REQUIRED:
        pytest.fail(f"EDGESUITE_REQUIRE_BROWSER is set, but {why}")
    pytest.skip(why)


def _node(script: str, payload: dict, tmp_path: Path):
    """Runs an ES module ``script`` (with ``PAGE``: the page's folder URL, ``INPUT``: ``payload``) in node."""
    import shutil

    node = shutil.which("node")
    if not node:
        _missing("no node here to run the page's modules (apt-get install nodejs)")
    (tmp_path / "input.json").write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    given = json.dumps(str(tmp_path / "input.json"))
    code = (
        f"const PAGE = {json.dumps(web.PAGE.as_uri() + '/')};\n"
        f"import {{ readFileSync }} from 'node:fs';\n"
        f"const INPUT = JSON.parse(readFileSync({given}, 'utf8'));\n" + script
    )
    (tmp_path / "probe.mjs").write_text(code, encoding="utf-8")
    done = subprocess.run([node, str(tmp_path / "probe.mjs")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


TEXTS = [
    "Straße ΣΟΦΟΣ café naïve",
    "我喜欢这部电影!",
    "ﬁne ﬂags — ｆｕｌｌｗｉｄｔｈ",
    "a\u200bb\u00adc İstanbul",
    "",
    "   ",
    "x" * 30,
    "don't stop, e\u0301t\u00e9",
    "emoji 😀 ok\tTab\nnewline\u00a0nbsp",
    "สวัสดีครับ",
    "Ⅻ µ ﬀ ǅ ẞ ſ K",
    "unknown zzzq words",
]


def _vocabulary(texts: list[str], normalize: str) -> list[str]:
    """Pieces that cover the texts both ways: short words whole, long ones as a head and ## characters."""
    from edgesuite.common.text import WordPieceEncoder

    splitter = WordPieceEncoder({"vocab": ["[PAD]", "[UNK]"], "normalize": normalize, "max_length": 8})
    words = splitter.words(" ".join(texts))
    vocab = ["[PAD]", "[UNK]"]
    for w in dict.fromkeys(words):
        if "z" in w:
            continue  # no piece: the word becomes [UNK]
        pieces = [w] if len(w) < 6 else [w[:3]] + ["##" + c for c in w[3:]]
        vocab += [p for p in pieces if p not in vocab]
    return vocab


@pytest.mark.parametrize("normalize", ["lower", "none"])
def test_the_pages_wordpiece_encoder_gives_edgesuites_ids(normalize, tmp_path):
    from edgesuite.common.text import WordPieceEncoder

    settings = {
        "vocab": _vocabulary(TEXTS, normalize),
        "normalize": normalize,
        "max_length": 12,
        "bigram_buckets": 7,
        "trigram_buckets": 5,
        "unknown_token": "[UNK]",
        "max_bytes_per_word": 20,
    }
    want = WordPieceEncoder(settings)(TEXTS)
    got = _node(
        "const { WordPieceEncoder } = await import(PAGE + 'text.js');\n"
        "const e = new WordPieceEncoder(INPUT.settings, INPUT.casefold);\n"
        "console.log(JSON.stringify(INPUT.texts.map((t) => Array.from(e.encode(t)))));",
        {"settings": settings, "casefold": web.casefold_table(), "texts": TEXTS},
        tmp_path,
    )
    for text, a, b in zip(TEXTS, got, want):
        assert a == b.tolist(), text


@pytest.mark.parametrize("per_detection", [None, 10], ids=["a run from before the key (4)", "10"])
def test_the_pages_detection_decoding_is_the_numpy_one(tmp_path, per_detection):
    from edgesuite.apps.object_detection import postprocess as codec

    rng = np.random.default_rng(0)
    g, k = 8, 3
    # eighths: many exact ties between scores, which both must break towards the lower index
    predictions = (np.round(rng.uniform(0, 1, (6, g * g, 5 + k)) * 8) / 8).astype(np.float32)
    predictions[..., :4] *= 0.4
    # the first image: one object scored 1.0 at its first 48 points, all predicting the same box, as a stride-4 head
    # scores a large item: 4 candidates per detection (40) are all its points, 10 (100) reach the other objects
    c = (np.arange(g) + 0.5) / g
    cy, cx = (a.ravel()[:48] for a in np.meshgrid(c, c, indexing="ij"))
    predictions[0, :48, :4] = np.stack([cx, cy, 0.8 - cx, 0.8 - cy], -1)
    predictions[0, :48, 4:] = [1.0, 0.0, 0.0, 1.0]
    meta = {
        "class_names": ["a", "b", "c"],
        "input": {"shape": [32, 32, 3]},
        "postprocessing_params": {"max_detections": 10, "score_threshold": 0.2, "iou_threshold": 0.5},
    }
    if per_detection:
        meta["postprocessing_params"]["candidates_per_detection"] = per_detection
    got = _node(
        "const { detections } = await import(PAGE + 'apps.js');\n"
        "const found = INPUT.predictions.map((p) => detections(Float32Array.from(p.flat()), INPUT.meta));\n"
        "console.log(JSON.stringify(found));",
        {"predictions": predictions.tolist(), "meta": meta},
        tmp_path,
    )
    found = codec.detections(predictions, meta)
    assert len(found[0]["scores"]) == (1 if per_detection is None else 10)
    for js, want in zip(got, found):
        assert [d["class_id"] for d in js] == want["classes"].tolist()
        np.testing.assert_array_equal(np.asarray([d["score"] for d in js], np.float32), want["scores"])
        np.testing.assert_array_equal(np.asarray([d["box"] for d in js], np.float32).reshape(-1, 4), want["boxes"])


def test_the_pages_translation_output_is_the_numpy_one(tmp_path):
    from edgesuite.apps.translation import postprocess as codec

    vocab = [
        "[PAD]",
        "[UNK]",
        "[START]",
        "[END]",
        "hello",
        "##s",
        ",",
        ".",
        "¿",
        "it",
        "'",
        "s",
        "\u2040",
        "\u2423",
        "这",
        "部",
        "-",
        "well",
        "known",
        "(",
        "qué",
        "?",
        "»",
        "«",
    ]
    rng = np.random.default_rng(1)
    rows = [rng.integers(1, len(vocab), rng.integers(1, 14)).tolist() for _ in range(200)]
    runs = [rng.integers(4, 9, rng.integers(0, 16)).tolist() for _ in range(200)]
    rules = {"max_run": 3, "no_repeat_ngram": 3}
    got = _node(
        "const { detokenize } = await import(PAGE + 'text.js');\n"
        "const { bannedNext } = await import(PAGE + 'apps.js');\n"
        "console.log(JSON.stringify({text: INPUT.rows.map((r) => detokenize(r, INPUT.vocab)),\n"
        "  banned: INPUT.runs.map((t) => Array.from(bannedNext(t, INPUT.rules)).sort((a, b) => a - b))}));",
        {"rows": rows, "vocab": vocab, "runs": runs, "rules": rules},
        tmp_path,
    )
    assert got["text"] == [codec.detokenize(r, vocab) for r in rows]
    if hasattr(codec, "banned_next"):  # the repeat rules of greedy decoding
        assert got["banned"] == [sorted(codec.banned_next(t, {**codec.DECODING_RULES, **rules})) for t in runs]


def test_headless_chromium_runs_a_module_page_served_here(tmp_path):
    paths = browser.chromium_paths()
    if isinstance(paths, str):
        _missing(paths)
    (tmp_path / "index.html").write_text(
        '<script type="module">import { two } from "./two.mjs"; '
        "window.__results = {sum: two() + 1, origin: location.origin};</script>"
    )
    (tmp_path / "two.mjs").write_text("export const two = () => 2;\n")
    try:
        with browser.serving(tmp_path) as url, browser.headless_chromium(paths) as driver:
            found = browser.run_page(driver, url + "index.html", timeout=60)
            picture = browser.screenshot(driver)
    except browser.BrowserUnavailable as exc:
        _missing(str(exc))
    assert found == {"sum": 3, "origin": url.rstrip("/")} and url.startswith("http://127.0.0.1:")
    assert picture[:8] == b"\x89PNG\r\n\x1a\n"


def test_serve_answers_on_localhost_with_module_and_wasm_types_and_no_tensorflow(tmp_path):
    page = tmp_path / "run" / "export" / "web"
    (page / "runtime").mkdir(parents=True)
    (page / "index.html").write_text("<p>page</p>")
    (page / "runtime" / "ort.wasm.min.mjs").write_text("export {};")
    (page / "runtime" / "x.wasm").write_bytes(b"\0asm\1\0\0\0")
    code = f"""
import contextlib, io, json, re, sys, threading, time, urllib.request
from edgesuite import cli
out = io.StringIO()
def serve():
    with contextlib.redirect_stdout(out):
        cli.main(["serve", {str(tmp_path / "run")!r}, "--port", "0"])
threading.Thread(target=serve, daemon=True).start()
for _ in range(100):
    found = re.search(r"http://127\\.0\\.0\\.1:\\d+/", out.getvalue())
    if found:
        break
    time.sleep(0.05)
types = {{}}
for name in ("index.html", "runtime/ort.wasm.min.mjs", "runtime/x.wasm"):
    with urllib.request.urlopen(found.group(0) + name, timeout=10) as r:
        types[name] = r.headers["Content-Type"]
print(json.dumps({{"types": types, "tensorflow": "tensorflow" in sys.modules, "said": out.getvalue()}}),
      file=sys.__stdout__)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["types"] == {
        "index.html": "text/html",
        "runtime/ort.wasm.min.mjs": "text/javascript",
        "runtime/x.wasm": "application/wasm",
    }, got
    assert not got["tensorflow"] and str(page) in got["said"]


def test_serve_names_a_folder_without_a_page(tmp_path, capsys):
    from edgesuite.cli import main

    assert main(["serve", str(tmp_path)]) == 2
    assert "no web page there" in capsys.readouterr().err


def test_without_npm_the_format_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESUITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(web.shutil, "which", lambda name: None)
    why = web.skip_reason({}, log=lambda _: None)
    assert why and "npm not found" in why and "onnxruntime-web@" in why


def test_a_failed_write_leaves_the_earlier_page_and_no_partial_folder(tmp_path, monkeypatch):
    if not isinstance(web.runtime_dist(log=lambda _: None), Path):
        _missing("npm could not fetch onnxruntime-web here")
    from edgesuite.export import onnx_format

    def broken(ctx, fmt, path):
        path.write_bytes(b"half")
        raise RuntimeError("conversion failed")

    monkeypatch.setattr(onnx_format, "write", broken)
    earlier = tmp_path / "web"
    earlier.mkdir()
    (earlier / "index.html").write_text("earlier page")
    staging = tmp_path / ".edgesuite-staging-1-x"  # what ExportContext._staging gives (and close() removes)
    ctx = SimpleNamespace(_staging=lambda name: staging / name, metadata={})
    with pytest.raises(RuntimeError, match="conversion failed"):
        web.write(ctx, None, earlier / "model.onnx")
    assert not (staging / "web").exists()
    assert [p.name for p in earlier.iterdir()] == ["index.html"]
    assert (earlier / "index.html").read_text() == "earlier page"
