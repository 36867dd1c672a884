"""--model linear: the TF-IDF + logistic regression baseline's features computed in the graph from token ids, its
weights started at the regression's optimum on them, and the n-gram buckets fitted to the data."""

import numpy as np
import pytest

from edgesuite.apps.text_classification import baseline
from edgesuite.apps.text_classification import model as tcmodel
from edgesuite.apps.text_classification.config import Config
from edgesuite.apps.text_classification.task import TASK, TextClassificationTask
from edgesuite.common import text as ctext

TEXTS = [
    "the cat sat on the mat and the cat slept",
    "a dog a dog a dog barked",
    "",
    "one",
    "the end of the film is the end of the cat",
    "dog dog dog dog dog dog dog dog",
]


def vocab_and_ids(buckets: int, length: int = 12, trigrams: int = 0):
    vocab = ctext.learn_vocabulary(TEXTS * 3, 300, "lower", log=lambda *a: None)
    return vocab, ctext.tokenize(TEXTS, ctext.TextTokenizer(vocab, length, "lower", buckets, trigrams))


@pytest.mark.parametrize("buckets, trigrams", [(50, 0), (0, 0), (50, 30)])
def test_the_graph_computes_the_sublinear_l2_normalized_tfidf_of_scikit_learn(buckets, trigrams):
    """The layer before the softmax is W^T x for x the (1 + ln tf) * idf row scaled to unit norm, as
    ``baseline.tfidf_rows`` (and scikit-learn's TfidfVectorizer(sublinear_tf=True)) computes it, with or without
    the hashed bigrams and trigrams; an empty text gives zeros, not NaN."""
    import keras

    vocab, ids = vocab_and_ids(buckets, trigrams=trigrams)
    n = len(vocab) + buckets + trigrams
    idf = TextClassificationTask._idf(ids, n)
    assert idf[0] == 0.0 and min(idf[1:]) >= 1.0
    cfg = Config(model="linear", bigram_buckets=buckets, trigram_buckets=trigrams)
    model = tcmodel.build(cfg, 3, len(vocab), ids.shape[1], idf=idf)
    w = np.random.default_rng(1).normal(size=(n, 3)).astype(np.float32)
    model.get_layer("ngram_weights").set_weights([w])
    features = keras.Model(model.input, model.get_layer("l2_normalized").output)(ids).numpy()
    x = baseline.tfidf_rows(ids, idf, n)
    np.testing.assert_allclose(features, x @ w, atol=2e-5)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    assert np.allclose(norms[norms > 0], 1.0) and not np.isnan(features).any()
    # by hand for "dog dog ... dog" (8 times, one piece): (1 + ln 8) * idf / itself = 1 on that id alone
    row = x[5].toarray().ravel()
    dog = ids[5][0]
    assert row[dog] > 0.99 if buckets == 0 else row[dog] > 0
    # the repeated bigram "dog dog" is one distinct id, counted 7 times
    if buckets:
        pair = ids[5][12]
        assert (ids[5][12:23] == pair).sum() == 7 and row[pair] == pytest.approx(
            row[dog] * (1 + np.log(7)) * idf[pair] / ((1 + np.log(8)) * idf[dog]), rel=1e-3
        )
    if trigrams:  # "dog dog dog" six times, in the trigram range
        triple = ids[5][23]
        assert triple >= len(vocab) + buckets and (ids[5][23:] == triple).sum() == 6
        assert row[triple] == pytest.approx(
            row[dog] * (1 + np.log(6)) * idf[triple] / ((1 + np.log(8)) * idf[dog]), rel=1e-3
        )


@pytest.mark.parametrize("classes", [2, 3])
def test_the_linear_model_starts_as_the_logistic_regression_on_its_inputs(classes):
    """``initial_weights`` writes the regression's coefficients into the Keras model: before any training its
    probabilities are scikit-learn's ``predict_proba`` on the same rows (two classes too, where scikit-learn
    keeps one row of coefficients)."""
    from types import SimpleNamespace

    from sklearn.linear_model import LogisticRegression

    vocab, ids = vocab_and_ids(40)
    labels = np.arange(len(TEXTS)) % classes
    n = len(vocab) + 40
    idf = TextClassificationTask._idf(ids, n)
    splits = SimpleNamespace(train=SimpleNamespace(labels=labels), val=SimpleNamespace(labels=labels))
    start = baseline.fit_linear_start({"train": ids, "val": ids}, splits, idf, classes)
    assert start["C"] in baseline.C_GRID + (4 * baseline.C_GRID[-1],) and start["coef"].shape == (classes, n)
    model = tcmodel.build(Config(model="linear", bigram_buckets=40), classes, len(vocab), ids.shape[1], idf=idf)
    TASK.initial_weights(model, SimpleNamespace(extras={"linear_start": start}))
    reference = LogisticRegression(C=start["C"], max_iter=2000).fit(baseline.tfidf_rows(ids, idf, n), labels)
    np.testing.assert_allclose(
        model.predict(ids, verbose=0), reference.predict_proba(baseline.tfidf_rows(ids, idf, n)), atol=1e-4
    )


def test_bigram_buckets_follow_the_distinct_bigrams_within_the_table_cap(capsys):
    """--bigram-buckets 0: the power of two at or above the training split's distinct bigrams (1,024 at the
    least); the linear model's table stays within TABLE_NUMBERS numbers, bow within its old 20,000 buckets.
    Spaced text gets no trigrams."""
    from edgesuite.apps.text_classification import task as tctask

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(words, 30)) for _ in range(1500)]  # ~40,000 distinct bigrams of 400 words
    vocab = ctext.learn_vocabulary(texts, 1000, "lower", log=lambda *a: None)
    got = TASK._fitted_buckets(texts, vocab, 32, Config(model="linear"), 3)
    distinct = int(capsys.readouterr().out.split("(")[1].split()[0])
    assert 32768 < distinct <= 65536 and got == (65536, 0)
    assert TASK._fitted_buckets(texts, vocab, 32, Config(model="bow"), 3) == (tctask.BOW_BUCKETS, 0)
    # 1,000 classes: (vocabulary + buckets) x 1,001 numbers would pass the cap, so fewer buckets
    capped, _ = TASK._fitted_buckets(texts, vocab, 32, Config(model="linear"), 1000)
    assert capped == max(1024, tctask.TABLE_NUMBERS // 1001 - len(vocab)) < 65536
    assert TASK._fitted_buckets(texts[:1], vocab, 8, Config(model="linear"), 3) == (1024, 0)
    assert TASK._fitted_buckets(
        texts, vocab, 32, Config(model="linear", bigram_buckets=500, trigram_buckets=300), 3
    ) == (500, 300)  # given: kept as they are


def test_text_without_spaces_gets_trigram_buckets_in_the_room_the_bigrams_leave(capsys):
    """--trigram-buckets -1 on Chinese text: the linear model gets the power of two at or above the distinct
    trigrams (as the baseline gets character trigrams), bigrams and trigrams together within the table cap;
    bow gets none, and 0 turns them off."""
    from edgesuite.apps.text_classification import task as tctask

    rng = np.random.default_rng(0)
    chars = [chr(0x4E00 + i) for i in range(300)]
    texts = ["".join(rng.choice(chars, 20)) for _ in range(1200)]  # ~22,800 distinct trigrams
    assert baseline.spaceless(texts)
    vocab = ctext.learn_vocabulary(texts, 1000, "lower", log=lambda *a: None)
    bigrams, trigrams = TASK._fitted_buckets(texts, vocab, 24, Config(model="linear"), 2)
    log = capsys.readouterr().out
    distinct3 = int(log.split("trigram buckets from the data (text without spaces): ")[1].split("(")[1].split()[0])
    assert 16384 < distinct3 <= 32768 and trigrams == 32768 and bigrams >= 16384
    assert (len(vocab) + bigrams + trigrams) * 3 <= tctask.TABLE_NUMBERS
    # 50 classes: the bigrams come first; the trigrams get the largest power of two left in the table
    b50, t50 = TASK._fitted_buckets(texts, vocab, 24, Config(model="linear"), 50)
    assert b50 == bigrams and 1024 <= t50 < trigrams and t50 & (t50 - 1) == 0
    assert (len(vocab) + b50 + 2 * t50) * 51 > tctask.TABLE_NUMBERS >= (len(vocab) + b50 + t50) * 51
    # 200 classes: the bigrams fill the table, no trigrams (the log says so)
    assert TASK._fitted_buckets(texts, vocab, 24, Config(model="linear"), 200)[1] == 0
    assert "no room left in the table" in capsys.readouterr().out
    assert TASK._fitted_buckets(texts, vocab, 24, Config(model="bow"), 2)[1] == 0
    assert TASK._fitted_buckets(texts, vocab, 24, Config(model="linear", trigram_buckets=0), 2)[1] == 0


def test_a_linear_run_records_the_buckets_and_its_start(text_csv, tmp_path, capsys):
    """A run with the defaults: config.yaml and the tokenizer hold the buckets chosen, the log names the start,
    and training on from it keeps validation within 2 points of the regression it started from."""
    import json

    import yaml

    from edgesuite.cli import main

    out = tmp_path / "runs"
    assert (
        main(
            [
                "train",
                "text-classification",
                "--data",
                str(text_csv),
                "--model",
                "linear",
                "--epochs",
                "2",
                "--vocab-size",
                "600",
                "--precision",
                "float32",
                "--out",
                str(out),
                "--name",
                "lin",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    log = capsys.readouterr().out
    run = out / "text-classification" / "lin"
    info = json.loads((run / "info.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    buckets = info["tokenizer"]["bigram_buckets"]
    assert buckets >= 1024 and buckets & (buckets - 1) == 0 and cfg["bigram_buckets"] == buckets
    assert info["tokenizer"]["trigram_buckets"] == cfg["trigram_buckets"] == 0  # English: word-piece bigrams only
    start = float(
        log.split("linear model's start: logistic regression on its TF-IDF inputs, C ")[1]
        .split("validation macro_f1 ")[1]
        .split(")")[0]
    )
    best = float(log.split("restored the best weights (val_macro_f1 = ")[1].split(")")[0])
    assert best >= start - 0.02, (start, best)
