"""Names and numbers pass through: the default recipe's joint vocabulary and copy head on a tiny synthetic
German-English set."""

import json

import numpy as np
import pytest

TEMPLATES = [
    ("Ich heiße {n}.", "My name is {n}."),
    ("{n} wohnt in {m}.", "{n} lives in {m}."),
    ("Das kostet {d} Euro.", "That costs {d} euros."),
    ("{n} kommt morgen.", "{n} is coming tomorrow."),
    ("Wo ist {n}?", "Where is {n}?"),
    ("Ich sehe {n} und {m}.", "I see {n} and {m}."),
]


SYLLABLES = ["ka", "ro", "lin", "mar", "te", "no", "vel", "su", "dri", "po", "zan", "mi"]


def names(rng, count: int) -> list[str]:
    """Made-up names of two or three syllables: a name in the training pairs shows up several times, and a new
    name is a new sequence of pieces the vocabulary holds."""
    return ["".join(rng.choice(SYLLABLES, rng.integers(2, 4))).title() for _ in range(count)]


def synthetic_pairs(count: int, seed: int, pool: int = 150) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    people = sorted(set(names(rng, pool)))
    out = []
    for _ in range(count):
        src, tgt = TEMPLATES[rng.integers(len(TEMPLATES))]
        n, m = rng.choice(people, 2)
        d = str(rng.integers(2, 999))
        out.append((src.format(n=n, m=m, d=d), tgt.format(n=n, m=m, d=d)))
    return out


def test_the_recipe_picks_a_joint_vocabulary_for_a_shared_alphabet_and_not_across_scripts():
    from edgesuite.apps.translation import vocab

    german = ["Die alte Kirche spiegelt sich in der Glasfassade des Bürogebäudes.", "Wo ist das Postamt?"]
    english = ["The old church is reflected in the glass front of the office building.", "Where is the post office?"]
    assert vocab.alphabet_overlap(german, english) > vocab.SHARED_ALPHABET
    assert vocab.alphabet_overlap(["The old church"], ["老教堂"]) == 0.0
    pieces = vocab.joint(["Die alte Kirche"] * 3, ["The old church"] * 3, 200, "none", ("[START]", "[END]"))
    assert pieces[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"] and {"Q", "##Q", "7", "##7"} <= set(pieces)


def test_words_on_both_sides_are_spelled_out_alike_and_fed_in_their_share_of_the_epochs():
    from edgesuite.apps.translation import data as tdata
    from edgesuite.apps.translation import vocab
    from edgesuite.apps.translation.model import TARGET_RESERVED
    from edgesuite.apps.translation.postprocess import END_ID, START_ID

    rows = [("Wo ist Velmi?", "Where is Velmi?"), ("Das kostet 417 Euro.", "That costs 417 euros."), ("Ja", "Yes")]
    pieces = vocab.joint([s for s, _ in rows] * 5, [t for _, t in rows] * 5, 200, "none", TARGET_RESERVED)
    assert "Velmi" in pieces  # a whole piece: spelling it out is what the copy head never practised otherwise
    cfg = type("Cfg", (), {"max_length": 16, "source_normalize": "none", "target_normalize": "none"})
    src_tok, tgt_tok = tdata.tokenizers(cfg, pieces, pieces)
    pairs = tdata.Pairs([s for s, _ in rows], [t for _, t in rows], ["a"] * 3, ["0", "1", "2"])
    plain = tdata.arrays(pairs, src_tok, tgt_tok)
    src, dec_in, labels, changed = tdata.spelled_copies(plain, pieces)
    assert changed.tolist() == [True, True, False]

    def text(ids):
        return " ".join(pieces[i] for i in ids if i)

    assert text(src[0]) == "Wo ist V ##e ##l ##m ##i ?"
    assert text(labels[0]) == "Where is V ##e ##l ##m ##i ? [END]" and dec_in[0, 0] == START_ID
    assert text(dec_in[0][1:]) == text(labels[0][labels[0] != END_ID])  # the decoder input: [START] + labels
    assert text(src[1]) == "Das kostet 4 ##1 ##7 Euro ." and "euros" in text(labels[1])  # Euro/euros: not shared
    assert (src[2] == plain[0][2]).all() and (labels[2] == plain[2][2]).all()
    for share, expect in ((0.0, 0), (1.0, 2)):
        batch = next(
            iter(tdata.batches(plain, 8, 0, True, spelled=(src, dec_in, labels, changed), spelled_share=share))
        )
        (x_src, _), y, _ = (
            np.asarray(t) if not isinstance(t, tuple) else tuple(np.asarray(u) for u in t) for t in batch
        )
        spelled = {pieces.index("##m"), pieces.index("##1")}
        assert sum(bool(spelled & set(row.tolist())) for row in x_src) == expect, x_src


def test_spelled_copies_are_on_where_the_pairs_copy_few_words_written_in_pieces():
    from edgesuite.apps.translation import data as tdata
    from edgesuite.apps.translation.task import TranslationTask

    pieces = ["[PAD]", "[UNK]", "[START]", "[END]", "Wo", "ist", "?", "Where", "is", "Vel", "##mi", "Ka", "##ro", "Ta"]

    def ids(text, start=False):
        row = [2] * start + [pieces.index(p) for p in text.split()]
        return row + [0] * (8 - len(row))

    rows = [
        ("Wo ist Vel ##mi ?", "Where is Vel ##mi ?"),  # copied in two pieces: counts
        ("Wo ist Ta ?", "Where is Ta ?"),  # copied, one piece: the head copies it by content alone
        ("Wo ist Ka ##ro ?", "Where is Vel ##mi ?"),  # Karo on one side only
    ]
    tensors = (np.array([ids(s) for s, _ in rows]), np.array([ids(t, start=True) for _, t in rows]))
    assert tdata.words_copied_in_pieces(tensors, pieces) == {"Velmi"}

    task = TranslationTask()
    auto = {"spelled_copies": -1.0, "copy_head": "on"}
    assert task._fitted_spelled(auto, tensors, pieces) == task.SPELLED_SHARE  # 1 < 30 such words
    task.FEW_COPIED_IN_PIECES = 1
    assert task._fitted_spelled(auto, tensors, pieces) == 0.0  # the pairs teach the walk themselves
    assert task._fitted_spelled({**auto, "copy_head": "off"}, tensors, pieces) == 0.0  # nothing walks
    assert task._fitted_spelled({**auto, "spelled_copies": 0.2}, tensors, pieces) == 0.2  # the flag wins


def test_the_copy_head_gives_a_source_piece_the_weight_its_position_gets(tmp_path):
    import keras

    from edgesuite.apps.translation.model import copy_mix

    inputs = [
        keras.Input((None, 6)),
        keras.Input((None, 1)),
        keras.Input((None, None)),
        keras.Input((None,), dtype="int32"),
    ]
    head = keras.Model(inputs, copy_mix(*inputs, vocab_size=6))
    vocab = np.full((1, 1, 6), 1 / 6, np.float32)  # the softmax knows nothing
    attention = np.array([[[0.1, 0.8, 0.1, 0.0]]], np.float32)  # on the second source piece (id 5); then padding
    x = [vocab, np.full((1, 1, 1), 0.25, np.float32), attention, np.array([[4, 5, 4, 0]], np.int32)]
    mixed = np.asarray(head(x))
    np.testing.assert_allclose(mixed[0, 0], 0.25 / 6 + 0.75 * np.array([0, 0, 0, 0, 0.2, 0.8]), atol=1e-6)
    head.save(tmp_path / "head.keras")
    head.save(tmp_path / "head.h5")
    for name in ("head.keras", "head.h5"):  # core layers: plain Keras reads both, nothing registered
        np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / name)(x)), mixed, atol=1e-7)


def test_the_pointer_walks_on_to_the_piece_after_the_one_just_written(tmp_path):
    """``copy_next``: the source positions that follow a piece equal to the one just written get the learned weight
    on their score; the rest keep theirs, padding stays out."""
    import keras

    from edgesuite.apps.translation.model import pointer

    hidden, memory = keras.Input((None, 4)), keras.Input((None, 4))
    source, written = keras.Input((None,), dtype="int32"), keras.Input((None,), dtype="int32")
    model = keras.Model([hidden, memory, source, written], pointer(hidden, memory, source, 8, 4, written=written))
    weight = model.get_layer("copy_next_weight")
    weight.set_weights([np.zeros((4, 1), np.float32), np.array([3.0], np.float32)])  # w(state) = 3 everywhere
    src = np.array([[5, 6, 5, 7, 0]], np.int32)  # pieces 5 6 5 7, then padding
    wrote = np.array([[2, 5, 7]], np.int32)  # [START], then piece 5, then piece 7 (the last source piece)
    x = [np.ones((1, 3, 4), np.float32), np.zeros((1, 5, 4), np.float32), src, wrote]  # memory 0: equal content
    att = np.asarray(model(x))
    e = np.exp(3.0)
    np.testing.assert_allclose(att[0, 0], [0.25, 0.25, 0.25, 0.25, 0], atol=1e-6)  # nothing written yet
    np.testing.assert_allclose(att[0, 1], np.array([1, e, 1, e, 0]) / (2 + 2 * e), atol=1e-6)  # after each 5
    np.testing.assert_allclose(att[0, 2], [0.25, 0.25, 0.25, 0.25, 0], atol=1e-6)  # padding follows 7: not it
    for name in ("pointer.keras", "pointer.h5"):  # core layers: plain Keras reads both, nothing registered
        model.save(tmp_path / name)
        np.testing.assert_allclose(np.asarray(keras.models.load_model(tmp_path / name)(x)), att, atol=1e-6)


def test_a_run_from_before_the_next_piece_term_builds_as_it_was_trained():
    from edgesuite.apps.translation.config import Config
    from edgesuite.apps.translation.task import TranslationTask

    pieces = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "b"]
    tok = {"vocab": pieces}
    info = {"dropout": 0.1, "source_tokenizer": tok, "target_tokenizer": tok, "copy_head": "on"}
    cfg = Config(layers=1, d_model=16, heads=2, ffn=32)
    for flag, expect in (({}, False), ({"copy_next": True}, True)):
        decoder = TranslationTask().build_model(cfg, {**info, **flag}).get_layer("decoder")
        assert any(layer.name == "copy_next_weight" for layer in decoder.layers) is expect


@pytest.fixture(scope="module")
def copy_run(tmp_path_factory):
    from edgesuite.api import Run
    from edgesuite.cli import main

    out = tmp_path_factory.mktemp("copy")
    rows = synthetic_pairs(600, seed=0)
    data = out / "de-en.tsv"
    data.write_text("".join(f"{s}\t{t}\n" for s, t in rows), encoding="utf-8")
    # the default recipe (vocabulary, copy head, spelled copies, dropout, smoothing from the data), a model and a
    # schedule small enough for a test
    tiny = [
        "--layers",
        "1",
        "--d-model",
        "64",
        "--heads",
        "2",
        "--ffn",
        "128",
        "--epochs",
        "12",
        "--lr",
        "0.003",
        "--batch-size",
        "32",
        "--beam-size",
        "1",
        "--eval-samples",
        "30",
        "--samples",
        "5",
        "--max-length",
        "16",
        "--early-stopping",
        "0",
        "--seed",
        "1",
        "--no-xla",
    ]
    assert main(["train", "translation", "--data", str(data), *tiny, "--out", str(out), "--name", "copy"]) == 0
    return Run.open(str(out / "translation" / "copy")), rows


def test_names_and_numbers_in_new_sentences_are_copied_through(copy_run):
    """Names (each in a few training pairs) in held-out sentences: the copy head carries them (0.92 of them in
    12 epochs; 0 without it, in 30 epochs: tests/benchmarks/RESULTS.md)."""
    run, _ = copy_run
    info = json.loads((run.path / "info.json").read_text())
    assert info["shared_vocab"] == "yes" and info["copy_head"] == "on" and info["copy_next"]
    assert info["spelled_copies"] == 0.5  # the pairs copy no name of several pieces: spelled copies teach it
    assert "spelled_copies: 0.5" in (run.path / "config.yaml").read_text()  # the recipe the run had
    assert info["source_tokenizer"]["vocab"] == info["target_tokenizer"]["vocab"]
    metrics = json.loads((run.path / "metrics.json").read_text())
    assert metrics["copy_recall"] >= 0.7 and metrics["chrf"] > metrics["copy_chrf"] + 20, metrics


def new_names(rows, count: int = 6) -> list[str]:
    seen = {w for s, _ in rows for w in s.replace(".", " ").replace("?", " ").split()}
    return [n for n in names(np.random.default_rng(99), 40) if n not in seen][:count]


def test_a_number_never_seen_in_training_is_copied_through(copy_run):
    """Numbers in the tiny vocabulary are pieces of one digit: spelled copies (on here from the data) teach the
    copy head to walk through such a run ("417" came out "4" without them)."""
    from edgesuite.apps.translation.decoding import Decoder

    run, rows = copy_run
    numbers = {w for s, _ in rows for w in s.split() if w.isdigit()}
    new = [d for d in ("417", "862", "305") if d not in numbers]
    out = Decoder(run.load_model(), run.info).translate([f"Das kostet {d} Euro." for d in new])
    assert sum(d in o for d, o in zip(new, out)) >= len(new) - 1, list(zip(new, out))


def test_a_name_never_seen_in_training_is_copied_through(copy_run):
    """Made-up names the training pairs never held, each a run of pieces: the pointer walks on from the piece it
    just wrote (8 to 10 of 10 over seeds 1-3 in float32 and mixed_bfloat16; 0 or 1 without spelled copies)."""
    from edgesuite.apps.translation.decoding import Decoder

    run, rows = copy_run
    new = new_names(rows, 10)
    out = Decoder(run.load_model(), run.info).translate([f"Wo ist {n}?" for n in new])
    copied = [n in o for n, o in zip(new, out)]
    assert sum(copied) >= 7, list(zip(new, out))
