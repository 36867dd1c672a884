"""Translation regularised from the data size: --dropout -1 (the default) is 0.1 for a set small enough that the
driver stretches the recipe's epochs, 0 for the embedded corpus."""

from edgesuite.apps.translation.config import Config
from edgesuite.apps.translation.task import TASK


def test_a_small_set_gets_dropout_and_the_embedded_corpus_none(capsys):
    cfg = Config()
    assert cfg.dropout == -1.0
    assert TASK._fitted_dropout(cfg, 2000) == TASK.SMALL_DATA_DROPOUT  # 63 steps x 3 epochs < 2,000
    assert TASK._fitted_dropout(cfg, 14000) == TASK.SMALL_DATA_DROPOUT  # 438 steps x 3 epochs: stretched too
    assert TASK._fitted_dropout(cfg, 28749) == 0.0  # the embedded verses: 899 steps x 3 epochs
    assert "dropout from the data: 0.1 (2000 training pairs" in capsys.readouterr().out
    assert TASK._fitted_dropout(Config(min_steps=0), 2000) == 0.0  # the recipe's epochs as they are
