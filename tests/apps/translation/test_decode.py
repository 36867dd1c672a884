"""Numpy decoding: beam search, detokenization, punctuation spacing (no TensorFlow needed)."""

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
TABLE = {(): {4: 0.5, 5: 0.45, END: 0.05}, (4,): {6: 0.3, 7: 0.3, END: 0.4}, (4, 6): {END: 1.0},
         (4, 7): {END: 1.0}, (5,): {6: 0.9, END: 0.1}, (5, 6): {END: 0.9, 7: 0.1}}


def test_greedy_follows_the_most_probable_token():
    ids = codec.beam_search(table_model(TABLE), 1, 6, beam_size=1)
    assert ids[0].tolist() == [4, END, 0, 0, 0, 0]


def test_beam_finds_the_more_probable_sentence():
    ids = codec.beam_search(table_model(TABLE), 1, 6, beam_size=2, length_penalty=0.0)
    assert ids[0].tolist() == [5, 6, END, 0, 0, 0]


def test_length_penalty_favours_longer_hypotheses():
    # [5] scores log .4 = -0.92 over 2 tokens; [4, 6, 7] log(.6 * .7 * .86) = -1.02 over 4
    table = {(): {4: 0.6, 5: 0.4}, (4,): {END: 0.3, 6: 0.7}, (4, 6): {7: 0.86, END: 0.14}, (4, 6, 7): {END: 1.0},
             (5,): {END: 1.0}}
    short = codec.beam_search(table_model(table), 1, 6, beam_size=3, length_penalty=0.0)[0]
    long = codec.beam_search(table_model(table), 1, 6, beam_size=3, length_penalty=2.0)[0]
    assert codec.strip_ids(short) == [5]
    assert codec.strip_ids(long) == [4, 6, 7]


def test_a_sentence_that_never_ends_stops_at_max_length():
    ids = codec.beam_search(table_model({(): {4: 1.0}, (4,): {4: 1.0}, (4, 4): {4: 1.0}}), 2, 3, beam_size=2)
    assert ids.shape == (2, 3) and (ids == 4).all()


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
