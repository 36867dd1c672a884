"""Numpy decoding: beam search, detokenization, punctuation spacing (no TensorFlow needed)."""

import itertools

import numpy as np
import pytest

from edgesuite.apps.translation import postprocess as codec

END = codec.END_ID


def table_model(table: dict, vocab: int = 8):
    """next_log_probs from a table: prefix (without [START]) -> next-token probabilities."""

    def next_log_probs(rows, prefix):
        out = []
        for p in prefix:
            probs = np.full(vocab, 1e-6)
            for token, pr in table.get(tuple(int(t) for t in p[1:]), {END: 1.0}).items():
                probs[token] = pr
            out.append(np.log(probs / probs.sum()))
        return np.array(out)

    return next_log_probs


# greedy takes 4 (0.5) then must pay 0.3 for each next token; beam finds 5 -> 6 -> END (0.45 * 0.9 * 0.9)
TABLE = {
    (): {4: 0.5, 5: 0.45, END: 0.05},
    (4,): {6: 0.3, 7: 0.3, END: 0.4},
    (4, 6): {END: 1.0},
    (4, 7): {END: 1.0},
    (5,): {6: 0.9, END: 0.1},
    (5, 6): {END: 0.9, 7: 0.1},
}


def test_greedy_follows_the_most_probable_token():
    ids = codec.beam_search(table_model(TABLE), 1, 6, beam_size=1)
    assert ids[0].tolist() == [4, END, 0, 0, 0, 0]


def test_beam_finds_the_more_probable_sentence():
    ids = codec.beam_search(table_model(TABLE), 1, 6, beam_size=2, length_penalty=0.0)
    assert ids[0].tolist() == [5, 6, END, 0, 0, 0]


def test_length_penalty_favours_longer_hypotheses():
    # [5] scores log .4 = -0.92 over 2 tokens; [4, 6, 7] log(.6 * .7 * .86) = -1.02 over 4
    table = {
        (): {4: 0.6, 5: 0.4},
        (4,): {END: 0.3, 6: 0.7},
        (4, 6): {7: 0.86, END: 0.14},
        (4, 6, 7): {END: 1.0},
        (5,): {END: 1.0},
    }
    short = codec.beam_search(table_model(table), 1, 6, beam_size=3, length_penalty=0.0)[0]
    long = codec.beam_search(table_model(table), 1, 6, beam_size=3, length_penalty=2.0)[0]
    assert codec.strip_ids(short) == [5]
    assert codec.strip_ids(long) == [4, 6, 7]


def test_a_sentence_that_never_ends_stops_at_max_length():
    ids = codec.beam_search(table_model({(): {4: 1.0}, (4,): {4: 1.0}, (4, 4): {4: 1.0}}), 2, 3, beam_size=2)
    assert ids.shape == (2, 3) and (ids == 4).all()


def test_the_repeats_a_loop_may_not_write():
    rules = {**codec.DECODING_RULES, "max_run": 3, "no_repeat_ngram": 4}
    assert codec.banned_next([5, 4, 4, 4], rules) == {4}  # a fourth 4 in a row
    assert codec.banned_next([4, 4], rules) == set()
    assert codec.banned_next([1, 2, 3, 9, 1, 2, 3], rules) == {9}  # 1 2 3 9 again
    assert codec.banned_next([1, 2, 3, 9, 1, 2, 3], {**rules, "no_repeat_ngram": 0}) == set()


def test_greedy_and_beam_stop_at_the_length_limit_and_never_babble():
    def wants_4_or_5(rows, prefix):
        out = np.full((len(prefix), 8), np.log(1e-6))
        out[:, 4], out[:, 5] = np.log(0.7), np.log(0.29)
        return out

    for beam in (1, 3):
        ids = codec.beam_search(wants_4_or_5, 2, 30, beam_size=beam, limits=np.array([6, 30]))
        short, long = codec.strip_ids(ids[0]), codec.strip_ids(ids[1])
        assert len(short) == 6 and ids[0].tolist()[6] == END
        for tokens in (short, long):
            assert max(len(list(g)) for _, g in itertools.groupby(tokens)) <= 3
            grams = [tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3)]
            assert len(grams) == len(set(grams)), tokens


def test_length_limits_follow_the_source_in_integer_arithmetic():
    md = {"max_length": 20, "decoding": {"length_ratio_pct": 150, "length_extra": 4}}
    source = np.array([[5, 6, 0, 0], [5, 6, 7, 8], [0, 0, 0, 0]])
    assert codec.length_limits(source, md).tolist() == [7, 10, 4]  # ceil(1.5 x n) + 4
    assert codec.length_limits(source, {"max_length": 20}).tolist() == [20, 20, 20]  # no ratio: max_length
    assert codec.length_limits(np.ones((1, 40), int), md).tolist() == [19]  # [END] still fits


def test_detokenize_joins_pieces_and_spaces_punctuation():
    vocab = ["[PAD]", "[UNK]", "[START]", "[END]", "dijo", "Dios", ",", "¿", "por", "qué", "?", "herman", "##os", ":"]
    ids = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 3, 4, 4]
    assert codec.detokenize(ids, vocab) == "dijo Dios, ¿por qué? hermanos:"
    assert codec.detokenize([3, 4], vocab) == ""
    assert codec.detokenize([2, 4, 0, 5], vocab) == "dijo"


def test_postprocess_gives_text_and_ids():
    md = {"target_tokenizer": {"vocab": ["[PAD]", "[UNK]", "[START]", "[END]", "luz", "."]}}
    out = codec.postprocess(np.array([[4, 5, 3, 0], [3, 0, 0, 0]]), md)
    assert out == [{"translation": "luz.", "token_ids": [4, 5]}, {"translation": "", "token_ids": []}]


def test_token_accuracy_counts_real_tokens_only():
    """Keras's compiled metrics skip the per-token sample weights: the metric masks padding labels itself."""
    from edgesuite.apps.translation.model import TokenAccuracy

    labels = np.array([[5, 6, 3, 0, 0], [7, 3, 0, 0, 0]], np.int32)
    guess = labels.copy()
    guess[labels == 0] = 9  # wrong on every padding position
    guess[1, 0] = 8  # and on one of the five real tokens
    probs = np.eye(10, dtype=np.float32)[guess]
    metric = TokenAccuracy()
    metric.update_state(labels, probs)
    assert float(metric.result()) == pytest.approx(0.8)


def test_the_word_for_word_baseline_learns_a_lexicon_and_copies_what_it_does_not_know():
    from edgesuite.apps.translation import baseline

    sources = ["the cat sleeps.", "the dog sleeps.", "a cat eats.", "a dog eats.", "the cat eats."] * 2
    targets = ["el gato duerme.", "el perro duerme.", "un gato come.", "un perro come.", "el gato come."] * 2
    table = baseline.lexicon(sources, targets)
    assert {table["cat"], table["dog"], table["sleeps"], table["eats"]} == {"gato", "perro", "duerme", "come"}
    assert table["cat"] == "gato" and table["dog"] == "perro"
    assert baseline.translate("The cat of Zorro eats 42 fish.", table) == "el gato of Zorro come 42 fish."

    from edgesuite.apps.translation.data import Pairs

    pairs = Pairs(sources, targets, [str(i) for i in range(10)], [str(i) for i in range(10)])
    scores = baseline.fit_and_score(pairs, pairs)
    assert scores["chrf"] > scores["copy_chrf"] and scores["name"].startswith("word-for-word")


def test_the_word_for_word_lexicon_is_the_same_in_every_process():
    """Ties (here every word of a pair co-occurs alike) go to the first target word in sorted order, whatever
    order the process's string hashing gives the sets the counts come from."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json; from edgesuite.apps.translation import baseline; "
        "print(json.dumps(baseline.lexicon(['rot blau gruen', 'rot blau gruen', 'gelb schwarz'] * 2, "
        "['red blue green', 'red blue green', 'yellow black'] * 2), sort_keys=True))"
    )
    tables = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3", "4")
    }
    assert len(tables) == 1, tables
    assert json.loads(tables.pop())["rot"] == "blue"  # a three-way tie: the first in sorted order
