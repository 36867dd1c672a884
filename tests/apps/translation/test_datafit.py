"""Translation regularised from the data size: --dropout -1 (the default) is 0.3 for a low-resource set (fewer than
300,000 running words a side) that the recipe passes over 30 times or more, 0.1 for one with fewer passes and up to
twice those words, 0 for the embedded corpus; the vocabulary, word dropout and label smoothing follow the words
(and the passes) as well."""

from edgesuite.apps.translation.config import Config
from edgesuite.apps.translation.data import Pairs
from edgesuite.apps.translation.task import TASK


def test_a_small_set_gets_dropout_and_the_embedded_corpus_none(capsys):
    cfg = Config()
    assert cfg.dropout == -1.0
    # a low-resource set the recipe passes over until it memorises gets the aggressive dropout
    assert TASK._fitted_dropout(cfg, 2000, 52_000, 80) == TASK.LOW_RESOURCE_DROPOUT
    assert "dropout from the data: 0.3 (2000 training pairs, 52,000 running words" in capsys.readouterr().out
    # the German set: 13 passes in its least steps, where dropout 0.3 only slowed the learning
    assert TASK._fitted_dropout(cfg, 14000, 110_000, 13) == TASK.SMALL_DATA_DROPOUT
    assert TASK._fitted_dropout(cfg, 20000, 400_000, 10) == TASK.SMALL_DATA_DROPOUT
    assert TASK._fitted_dropout(cfg, 28749, 750_000, 3) == 0.0  # the embedded verses


def _pairs(n_pairs: int, words: int, target: str = "The quick brown fox jumps over the lazy dog") -> Pairs:
    """``n_pairs`` pairs of ``words`` words a side (German and English pangrams: a shared alphabet)."""

    def cut(text):
        ws = text.split()
        return " ".join(ws[i % len(ws)] for i in range(words))

    src, tgt = cut("Franz jagt im komplett verwahrlosten Taxi quer durch Bayern"), cut(target)
    return Pairs([src] * n_pairs, [tgt] * n_pairs, [""] * n_pairs, [str(i) for i in range(n_pairs)])


def test_the_recipe_follows_the_words_and_the_alphabets():
    small = TASK._fitted_recipe(Config(), _pairs(14000, 8))  # 112,000 words a side: the set
    assert small["vocab_size"] == 1100 and small["shared_vocab"] and small["source_normalize"] == "none"
    assert small["passes"] == 12 and small["token_dropout"] == TASK.TOKEN_DROPOUT
    assert small["label_smoothing"] == TASK.SMOOTHING  # 12 passes: far from memorising
    tiny = TASK._fitted_recipe(Config(), _pairs(2000, 8))  # 80 passes over 2,000 pairs
    assert tiny["passes"] == 80 and tiny["label_smoothing"] == TASK.LOW_RESOURCE_SMOOTHING
    large = TASK._fitted_recipe(Config(), _pairs(30000, 25))  # 750,000 words: the embedded verses' size
    assert large["vocab_size"] == 4000 and large["token_dropout"] == 0 and large["label_smoothing"] == 0.1
    # a large set keeps one vocabulary a side (no copy head to use a joint one) and the usual least steps
    assert not large["shared_vocab"] and large["copy_head"] == "off" and large["min_steps"] == TASK.MIN_STEPS
    assert small["copy_head"] == "on" and small["min_steps"] == TASK.LOW_RESOURCE_MIN_STEPS
    other_script = TASK._fitted_recipe(Config(), _pairs(1000, 8, "敏捷的棕色狐狸跳过了懒狗"))
    assert not other_script["shared_vocab"] and other_script["source_normalize"] == "lower"
    given = TASK._fitted_recipe(
        Config(vocab_size=3000, shared_vocab="no", token_dropout=0.0, label_smoothing=0.1), _pairs(1000, 8)
    )
    assert (given["vocab_size"], given["shared_vocab"], given["token_dropout"], given["label_smoothing"]) == (
        3000,
        False,
        0.0,
        0.1,
    )


def test_spelled_copies_need_one_vocabulary_for_both_sides():
    import pytest

    from edgesuite.common.errors import UserInputError

    with pytest.raises(UserInputError, match="spelled_copies: needs one vocabulary for both sides"):
        TASK._fitted_recipe(Config(shared_vocab="no", copy_head="off", spelled_copies=0.5), _pairs(1000, 8))
    assert TASK._fitted_recipe(Config(spelled_copies=0.5), _pairs(1000, 8))["spelled_copies"] == 0.5
    assert TASK._fitted_recipe(Config(), _pairs(1000, 8))["spelled_copies"] < 0  # chosen once pieces are known
