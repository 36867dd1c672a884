"""One small translator trained on short verse pairs: metrics, predict, export to every format, load."""

import json

import numpy as np
import pytest

from edgesuite.apps.translation import postprocess as codec


def test_run_writes_bleu_chrf_samples_and_plots(translation_run):
    metrics = json.loads((translation_run / "metrics.json").read_text())
    for key in ("bleu", "chrf", "bleu_beam2", "chrf_beam2", "val_token_accuracy", "copy_bleu", "copy_chrf"):
        assert isinstance(metrics[key], float) and np.isfinite(metrics[key])
    assert 0 <= metrics["bleu"] <= 100 and metrics["chrf"] > 0
    assert 0 <= metrics["copy_bleu"] < 20 and metrics["copy_chrf"] > 0  # English copied as Spanish: a low floor
    assert metrics["val_token_accuracy"] > 0.05  # well above chance over a 600-piece vocabulary
    assert len(metrics["examples"]) == 5 and set(metrics["examples"][0]) == {"source", "reference", "hypothesis"}
    lines = (translation_run / "samples.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["where", "source", "reference", "greedy", "beam2"] and len(lines) > 10
    for name in ("training_curves.png", "bleu_by_length.png"):
        assert (translation_run / "plots" / name).stat().st_size > 5000
    info = json.loads((translation_run / "info.json").read_text())
    assert info["target_tokenizer"]["vocab"][:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    base = json.loads((translation_run / "metrics.json").read_text())["baseline"]  # what the model must beat
    assert base["name"].startswith("word-for-word") and 0 < base["chrf"] < 100 and base["lexicon_words"] > 50
    assert base["pairs"] == json.loads((translation_run / "metrics.json").read_text())["test_pairs"]


def test_graph_greedy_matches_numpy_greedy_and_the_fixed_buffer(translation_run):
    import tensorflow as tf

    from edgesuite.api import Run
    from edgesuite.apps.translation import model as tmodel
    from edgesuite.export.runtime import ModelRuntime

    run = Run.open(str(translation_run))
    model, info = run.load_model(), run.info
    texts = ["And God said, Let there be light.", "Jesus wept.", "And the LORD spake unto Moses, saying,"]
    source = codec.tokenize_sources(texts, info)
    rules = codec.decoding_rules(info)
    dynamic = tf.function(tmodel.greedy_decoder(model, info["max_length"], rules=rules))(tf.constant(source)).numpy()
    fixed = tf.function(tmodel.greedy_decoder(model, info["max_length"], fixed_buffer=True, rules=rules))(
        tf.constant(source)
    ).numpy()
    numpy_loop = codec.run(ModelRuntime(model), texts, info)
    assert (dynamic == fixed).all() and (dynamic == numpy_loop).all()
    assert any(codec.strip_ids(r) for r in dynamic)  # it says something


def _longest_run(tokens) -> int:
    best = run = 0
    for i, t in enumerate(tokens):
        run = run + 1 if i and t == tokens[i - 1] else 1
        best = max(best, run)
    return best


@pytest.mark.parametrize("favourites", [[7], [7, 8]], ids=["one token", "two tokens"])
def test_a_model_made_to_repeat_cannot_babble_in_any_loop(translation_run, favourites):
    """The trained translator with its softmax rigged to prefer the same token(s) at every step: the graph's loop
    (both variants, as the SavedModel and the .tflite hold it) and the numpy loop (every step-model format, greedy
    and beam) write no token more than 3 times in a row, no 4 pieces twice, and stop within the length bound."""
    import tensorflow as tf

    from edgesuite.api import Run
    from edgesuite.apps.translation import model as tmodel
    from edgesuite.export.runtime import ModelRuntime

    run = Run.open(str(translation_run))
    model, info = run.load_model(), run.info
    decoder = model.get_layer("decoder")
    layers = {layer.name: layer for layer in decoder.layers}
    # the softmax over the vocabulary: the model's last layer, or the copy head's own (its gate then shut on copying)
    head = layers.get("vocab_probabilities") or model.get_layer("probabilities")
    kernel, bias = head.get_weights()
    bias = np.zeros_like(bias)
    bias[favourites] = [20.0 - i for i in range(len(favourites))]  # the first always, then the next
    head.set_weights([kernel * 0.0, bias])
    if "copy_gate" in layers:
        gate_kernel, gate_bias = layers["copy_gate"].get_weights()
        layers["copy_gate"].set_weights([gate_kernel * 0.0, gate_bias * 0.0 + 30.0])
    texts = ["And God said, Let there be light.", "Jesus wept.", "And the LORD spake unto Moses, saying, Speak"]
    rules = codec.decoding_rules(info)
    source = codec.tokenize_sources(texts, info)
    limits = codec.length_limits(source, info)
    assert rules["length_ratio_pct"] > 0 and (limits < info["max_length"]).all()  # fitted to the training pairs
    unruled = codec.run(ModelRuntime(model), texts, {**info, "decoding": {"max_run": 0, "no_repeat_ngram": 0}})
    assert _longest_run(codec.strip_ids(unruled[0])) > 3  # without the rules it babbles
    loops = {
        "graph": tf.function(tmodel.greedy_decoder(model, info["max_length"], rules=rules))(tf.constant(source)),
        "graph, fixed buffer": tf.function(
            tmodel.greedy_decoder(model, info["max_length"], fixed_buffer=True, rules=rules)
        )(tf.constant(source)),
        "numpy greedy": codec.run(ModelRuntime(model), texts, info),
        "numpy beam 3": codec.run(ModelRuntime(model), texts, info, beam_size=3),
    }
    for name, ids in loops.items():
        for row, limit in zip(np.asarray(ids), limits):
            tokens = codec.strip_ids(row)
            assert _longest_run(tokens) <= 3, (name, tokens)
            grams = [tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3)]
            assert len(grams) == len(set(grams)), (name, tokens)
            assert len(tokens) <= limit and codec.END_ID in row.tolist(), (name, tokens, limit)
    assert (np.asarray(loops["graph"]) == loops["numpy greedy"]).all()
    assert (np.asarray(loops["graph, fixed buffer"]) == loops["numpy greedy"]).all()


def test_predict_cli_greedy_beam_and_empty_text(translation_run, capsys):
    from edgesuite.cli import main

    assert main(["predict", str(translation_run), "In the beginning God created the heaven.", "", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[1] == {"translation": "", "token_ids": [], "input": ""}
    assert isinstance(rows[0]["translation"], str) and rows[0]["translation"]
    assert main(["predict", str(translation_run), "Jesus wept.", "--beam-size", "3"]) == 0
    assert "'Jesus wept.' -> " in capsys.readouterr().out


def test_beam_size_is_refused_for_other_tasks(trained_run, capsys):
    from edgesuite.cli import main

    assert main(["predict", str(trained_run), "x.png", "--beam-size", "2"]) == 2
    assert "--beam-size: only a task that decodes with a beam" in capsys.readouterr().err


def test_the_contract_cycle(translation_run, translation_export, tmp_path):
    from tests.cycle import check_cycle

    check_cycle("translation", translation_run, translation_export, 24, tmp_path)


def test_export_every_format(translation_export):
    rows = {r["format"]: r for r in translation_export["formats"]}
    assert translation_export["metric_name"] == "bleu"
    for fmt in ("savedmodel", "keras", "h5", "tflite", "tflite-fp16", "onnx"):
        assert rows[fmt]["status"] == "ok", rows[fmt]
        assert rows[fmt]["top1_agreement"] >= 0.97 and "BLEU vs Keras output" in rows[fmt]["note"]
        assert rows[fmt]["max_abs_diff"] is None  # ids are compared by exact match, not diffed
    assert rows["coreml"]["status"] == "ok" and "spec checked" in rows["coreml"]["note"]
    # int8 of a barely trained model may disagree more than the limits allow, but it must load and translate
    assert rows["tflite-int8"]["status"] in ("ok", "exported-but-mismatch") and "top1_agreement" in rows["tflite-int8"]
    assert rows["tflite-dynamic"]["status"] in ("ok", "exported-but-mismatch")


def test_quantized_files_are_judged_by_bleu_and_float_files_also_by_exact_match():
    """int8 of the default recipe: 27 % of verses word for word as Keras, BLEU 20.8 against Keras's 20.6: ok.
    A file whose BLEU falls 15 points (int8 under Keras's -1e9 attention mask) is a mismatch; so is a float file
    that translates a tenth of the verses differently."""
    from edgesuite.apps.translation.task import TASK
    from edgesuite.export.verify import compare

    ids = np.zeros((4, 8), np.int32)

    def status(precision, agreement, bleu, reference_bleu=20.6):
        return compare(
            ids,
            ids,
            bleu,
            reference_bleu,
            precision,
            agreement,
            TASK.serving.parity_limits(precision),
            report_diff=False,
        )["status"]

    assert status("int8", 0.265, 20.8) == "ok"
    assert status("int8", 0.05, 0.4, reference_bleu=15.9) == "exported-but-mismatch"
    assert status("dynamic", 0.7, 17.0) == "exported-but-mismatch"
    assert status("float32", 0.9, 20.6) == "exported-but-mismatch"
    assert status("float32", 1.0, 20.6) == "ok"


def test_tflite_takes_strings_with_the_loop_inside(translation_export, translation_run):
    from edgesuite.export.tflite import op_names

    ops = op_names((translation_run / "export" / "model_float32.tflite").read_bytes())
    assert "WHILE" in ops
    custom = {op for op in ops if op.startswith("custom:")}
    assert (
        custom <= {"custom:FastBertNormalize", "custom:FastWordpieceTokenizeWithOffsets", "custom:RaggedTensorToTensor"}
        and custom
    )
    assert not any(op.startswith("custom:Flex") for op in ops)


@pytest.mark.parametrize(
    "name", ["savedmodel", "model.keras", "model.h5", "model_float32.tflite", "model_int8.tflite", "model.onnx"]
)
def test_load_translates_from_every_format(translation_export, translation_run, name):
    import edgesuite

    predictor = edgesuite.load(translation_run / "export" / name)
    out = predictor.predict(["And God said, Let there be light.", ""])
    assert isinstance(out[0]["translation"], str) and out[1]["translation"] == ""


def test_savedmodel_text_output_matches_numpy_detokenization(translation_export, translation_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    fn = tf.saved_model.load(str(translation_run / "export" / "savedmodel")).signatures["serving_default"]
    texts = ["And God said, Let there be light.", "Jesus wept.", "And Moses said unto the people, Fear ye not."]
    out = fn(text=tf.constant(texts))
    vocab = json.loads((translation_run / "info.json").read_text())["target_tokenizer"]["vocab"]
    assert [t.decode() for t in out["translation"].numpy()] == [
        codec.detokenize(r, vocab) for r in out["token_ids"].numpy()
    ]


def test_beam_search_on_an_exported_step_model(translation_export, translation_run):
    import edgesuite

    predictor = edgesuite.load(translation_run / "export" / "model.onnx")
    out = predictor.predict(["And God said, Let there be light."], beam_size=3)
    assert isinstance(out[0]["translation"], str)
    loop = edgesuite.load(translation_run / "export" / "model_float32.tflite")
    from edgesuite.common.errors import UserInputError

    with pytest.raises(UserInputError, match="holds greedy decoding"):
        loop.predict(["x"], beam_size=3)


def test_evaluate_cli_with_a_beam_and_on_other_pairs(translation_run, pairs_tsv, capsys):
    from edgesuite.cli import main

    before = json.loads((translation_run / "metrics.json").read_text())
    assert main(["evaluate", str(translation_run), "--beam-size", "3"]) == 0
    after = json.loads((translation_run / "metrics.json").read_text())
    assert after["bleu"] == pytest.approx(before["bleu"]) and "bleu_beam3" in after and "chrf_beam3" in after
    # metrics.json keeps the validation token accuracy that training wrote (evaluate rebuilds the split)
    assert after["val_token_accuracy"] == pytest.approx(before["val_token_accuracy"], abs=1e-6)
    assert main(["evaluate", str(translation_run), "--data", str(pairs_tsv)]) == 0
    out = capsys.readouterr().out
    assert "bleu" in out and str(pairs_tsv) in out
    assert main(["evaluate", str(translation_run), "--beam-size", "0"]) == 2


def test_interrupted_run_resumes_with_its_vocabularies_and_refuses_changed_data(
    pairs_tsv, tmp_path, monkeypatch, capsys
):
    """Ctrl-C after epoch 1, --resume: epochs 1 and 2 once each, the same vocabularies; resuming on another
    file would give the saved weights other token ids, so it stops naming what changed."""
    import keras

    from edgesuite.cli import main
    from edgesuite.common import training

    from .conftest import TINY, short_pairs, write_tsv

    class CtrlC(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    callbacks = training._callbacks
    monkeypatch.setattr(training, "_callbacks", lambda *a: [*callbacks(*a), CtrlC()])  # after the recorder
    data = tmp_path / "pairs.tsv"
    data.write_bytes(pairs_tsv.read_bytes())
    args = [
        "train",
        "translation",
        "--data",
        str(data),
        *TINY,
        "--epochs",
        "2",
        "--eval-samples",
        "10",
        "--beam-size",
        "1",
        "--out",
        str(tmp_path / "out"),
        "--name",
        "r",
    ]
    assert main(args) == 130  # what Ctrl-C exits with
    run = tmp_path / "out" / "translation" / "r"
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"
    info = json.loads((run / "info.json").read_text())
    monkeypatch.setattr(training, "_callbacks", callbacks)

    write_tsv(data, [(en, es, ref) for ref, en, es in short_pairs(limit=700)])  # other data: other vocabularies
    capsys.readouterr()
    assert main(["train", "translation", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "the data changed since this run started" in err and "target_tokenizer" in err and str(run) in err
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"  # nothing lost or claimed

    data.write_bytes(pairs_tsv.read_bytes())
    assert main(["train", "translation", "--resume", str(run)]) == 0
    history = (run / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2"]
    assert json.loads((run / "info.json").read_text()) == info
    assert json.loads((run / "status.json").read_text())["state"] == "completed"
    assert "bleu" in json.loads((run / "metrics.json").read_text())


def test_the_train_script_trains_evaluates_and_exports(pairs_tsv, tmp_path, capsys):
    from tests.apps.test_train_scripts import load_script, script_ran

    from .conftest import TINY

    main_ = load_script("translation").main
    assert (
        main_(
            [
                "--data",
                str(pairs_tsv),
                *TINY,
                "--epochs",
                "1",
                "--beam-size",
                "1",
                "--eval-samples",
                "8",
                "--out",
                str(tmp_path),  # the last --epochs (--beam-size, --eval-samples) wins
                "--formats",
                "keras",
            ]
        )
        == 0
    )
    script_ran(tmp_path / "translation", capsys, "test BLEU")
