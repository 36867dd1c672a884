"""Translation regularised from the data size: --dropout -1 (the default) is 0.3 for a low-resource set (fewer than
300,000 running words a side), 0.1 up to twice that, 0 for the embedded corpus; the vocabulary, word dropout and
label smoothing follow the words as well."""

from edgesuite.apps.translation.config import Config
from edgesuite.apps.translation.data import Pairs
from edgesuite.apps.translation.task import TASK


def test_a_small_set_gets_dropout_and_the_embedded_corpus_none(capsys):
    cfg = Config()
    assert cfg.dropout == -1.0
    assert TASK._fitted_dropout(cfg, 14000, 110_000) == TASK.LOW_RESOURCE_DROPOUT  # the German set
    assert "dropout from the data: 0.3 (14000 training pairs, 110,000 running words" in capsys.readouterr().out
    assert TASK._fitted_dropout(cfg, 20000, 400_000) == TASK.SMALL_DATA_DROPOUT
    assert TASK._fitted_dropout(cfg, 28749, 750_000) == 0.0  # the embedded verses


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
    assert small["token_dropout"] == TASK.TOKEN_DROPOUT and small["label_smoothing"] == TASK.LOW_RESOURCE_SMOOTHING
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
