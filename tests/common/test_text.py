"""The shared text library: vocabulary learning, tokenization in any script, the TFLite-able tokenizer."""

import numpy as np
import pytest

from edgesuite.common import text as ctext

CORPUS = [
    "a wonderful film with a moving story",
    "the acting is wonderful",
    "a dull and boring film",
    "我喜欢这部电影，非常好看。",
    "这部电影很无聊",
    "この映画はとても面白かったです。",
    "つまらない映画でした",
    "หนังเรื่องนี้สนุกมากครับ",
    "หนังน่าเบื่อมาก",
] * 3


@pytest.fixture(scope="module")
def vocab():
    return ctext.learn_vocabulary(CORPUS, vocab_size=300, normalize="none", min_count=1)


def test_vocabulary_starts_with_the_reserved_tokens_and_holds_every_training_character(vocab):
    assert vocab[:2] == ["[PAD]", "[UNK]"]
    assert len(vocab) == len(set(vocab))
    chars = {ch for t in CORPUS for ch in t if not ch.isspace()}
    assert all(ch in vocab and "##" + ch in vocab for ch in chars)


@pytest.mark.parametrize(
    "text, script",
    [
        ("我喜欢电影", "Chinese"),
        ("映画は面白い", "Japanese"),
        ("หนังสนุกมาก", "Thai"),
    ],
)
def test_text_without_spaces_splits_into_pieces_not_unk(vocab, text, script):
    tok = ctext.TextTokenizer(vocab, max_length=32, normalize="none")
    pieces = ctext.pieces(text, tok)
    assert "[UNK]" not in pieces, (script, pieces)
    assert len(pieces) >= 3, (script, pieces)
    assert "".join(p.removeprefix("##") for p in pieces) == text


def test_lower_normalization_folds_case_and_accents():
    vocab = ctext.learn_vocabulary(["Café FILM film cafe"] * 3, vocab_size=100, min_count=1)
    tok = ctext.TextTokenizer(vocab, max_length=8)
    assert ctext.pieces("CAFÉ Film", tok) == ctext.pieces("cafe film", tok)


def test_padding_truncation_empty_text_and_bigrams(vocab):
    tok = ctext.TextTokenizer(vocab, max_length=6, normalize="none")
    ids = ctext.tokenize(["wonderful film " * 10, "   ", "film"], tok)
    assert ids.shape == (3, 6) and ids.dtype == np.int32
    assert (ids[0] != 0).all()  # truncated to max_length
    assert ids[1, 0] == 1 and (ids[1, 1:] == 0).all()  # no token at all -> one [UNK], never all padding
    with_bigrams = ctext.TextTokenizer(vocab, max_length=6, normalize="none", bigram_buckets=50)
    ids2 = ctext.tokenize(["wonderful film wonderful", "film"], with_bigrams)
    assert ids2.shape == (2, 11)
    np.testing.assert_array_equal(ids2[:, :6], ctext.tokenize(["wonderful film wonderful", "film"], tok))
    for row in ids2:
        n, pairs = int((row[:6] != 0).sum()), row[6:]
        assert ((pairs[: n - 1] >= len(vocab)) & (pairs[: n - 1] < len(vocab) + 50)).all()
        assert (pairs[n - 1 :] == 0).all()  # no pair reaches into padding


def test_trigram_ids_follow_the_bigrams_in_their_own_range_and_hash_as_documented(vocab):
    """trigram_buckets: the (max_length - 2) hashed trigram ids after the bigrams, in V + B2 .. V + B2 + B3 - 1,
    0 where a trigram reaches into padding; the id is the documented int32-safe hash of the three ids."""
    v, length = len(vocab), 8
    tok = ctext.TextTokenizer(vocab, max_length=length, normalize="none", bigram_buckets=50, trigram_buckets=30)
    texts = ["我喜欢这部电影", "film", "a wonderful film with a moving story and more"]
    ids = ctext.tokenize(texts, tok)
    assert tok.output_length == 3 * length - 3 == ids.shape[1]
    assert ctext.split_ngram_widths(ids.shape[1], 50, 30) == [length, length - 1, length - 2]
    bigrams_only = ctext.tokenize(texts, ctext.TextTokenizer(vocab, length, "none", bigram_buckets=50))
    np.testing.assert_array_equal(ids[:, : 2 * length - 1], bigrams_only)  # trigrams change nothing before them
    for row in ids:
        pieces, n = row[:length].astype(np.int64), int((row[:length] != 0).sum())
        tri = row[2 * length - 1 :]
        assert ((tri[: max(n - 2, 0)] >= v + 50) & (tri[: max(n - 2, 0)] < v + 80)).all()
        assert (tri[max(n - 2, 0) :] == 0).all()
        for i in range(max(n - 2, 0)):
            a, b, c = pieces[i : i + 3]
            code = ((a * v + b) % ctext.trigram_modulus(v)) * v + c
            assert tri[i] == code % 30 + v + 50
            assert code < 2**31  # every step of the graph's int32 arithmetic fits
    assert len(set(ids[0, 2 * length - 1 : 2 * length + 3].tolist())) > 1  # not a constant
    with pytest.raises(ValueError, match="needs bigram_buckets"):
        ctext.TextTokenizer(vocab, max_length=8, trigram_buckets=30)


def test_vocabulary_file_round_trip_and_a_foreign_file(vocab, tmp_path):
    path = tmp_path / "vocab.txt"
    ctext.write_vocabulary(vocab, path)
    assert ctext.read_vocabulary(path) == vocab
    (tmp_path / "other.txt").write_text("hello\nworld\n")
    from edgesuite.common.errors import UserInputError

    with pytest.raises(UserInputError, match="other.txt: not an edgesuite vocabulary"):
        ctext.read_vocabulary(tmp_path / "other.txt")


def test_the_tokenizer_runs_inside_a_tflite_file_with_the_tftext_kernels(vocab, tmp_path):
    """Strings in, ids out, inside LiteRT: the same ids as in TensorFlow, no Flex op."""
    import tensorflow as tf

    from edgesuite.export.runtime import open_runtime
    from edgesuite.export.tflite import op_names

    tok = ctext.TextTokenizer(vocab, max_length=12, normalize="none", bigram_buckets=40, trigram_buckets=60)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(x):
        return {"ids": tf.cast(tok(x), tf.float32)}

    conv = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()], tok)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    conv.allow_custom_ops = True
    data = conv.convert()
    custom = {op[7:] for op in op_names(data) if op.startswith("custom:")}
    assert custom <= set(ctext.TFLITE_TEXT_OPS), custom
    path = tmp_path / "tok.tflite"
    path.write_bytes(data)
    texts = ["我喜欢这部电影", "หนังสนุกมาก", "a wonderful film", ""]
    got = open_runtime(path).run(np.array(texts, dtype=object))
    np.testing.assert_array_equal(got, ctext.tokenize(texts, tok))


ODD_TEXTS = [
    "我喜欢这部电影，真的很好看！",
    "這部電影太無聊了。。。",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "café naïve Ǆ ﬁ Straße İstanbul",
    "emoji 😀👍🏽 ok",
    "tab\there\u200bzero\u00adsoft",
    "ΣΊΣΥΦΟΣ Ελληνικά",
    "Привет, мир!",
    "ภาษาไทยไม่มีช่องว่าง",
    "日本語のテキストです。カタカナ",
    "x" * 1200,
    "",
    "   ",
    "a\x00b\x07c",
    "\ufeffbom",
    "١٢٣ العربية",
    "$5 <b>&amp;</b> ~`^|",
]


@pytest.mark.parametrize(
    "normalize, buckets, trigrams", [("lower", 0, 0), ("lower", 500, 0), ("none", 0, 0), ("lower", 500, 700)]
)
def test_the_plain_python_encoder_gives_the_graph_tokenizers_ids(normalize, buckets, trigrams):
    """``encode`` (what ``edgesuite.load`` tokenizes with, no TensorFlow) against the tensorflow-text graph, on
    real English and Spanish lines and on text of other scripts, widths, marks and control characters."""
    import csv

    from edgesuite.common.datasets import bible_en_es as bible
    from edgesuite.common.datasets import rotten_tomatoes as rt

    with rt.open_text() as f:
        reviews = [r["text"] for r, _ in zip(csv.DictReader(f), range(600))]
    with bible.open_text() as f:
        verses = [part for line, _ in zip(f, range(300)) for part in line.rstrip("\n").split("\t")[1:]]
    texts = reviews + verses + ODD_TEXTS
    vocab = ctext.learn_vocabulary(reviews[:300] + verses[:300] + ODD_TEXTS * 2, 800, normalize=normalize)
    tok = ctext.TextTokenizer(vocab, 40, normalize, buckets, trigrams)
    want = ctext.tokenize(texts, tok)
    got = ctext.encode(texts, tok.settings())
    differ = [texts[i] for i in np.flatnonzero((want != got).any(axis=1))]
    assert not differ, differ[:3]
    assert (got[:, 0] > 0).all()  # every text has a first token, an empty one [UNK]
    assert len({tuple(r) for r in got}) > 0.9 * len(texts)  # not a constant
