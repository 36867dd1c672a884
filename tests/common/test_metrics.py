import numpy as np
import pytest

from edgesuite.common.metrics import classification_metrics


def test_against_hand_computed_values():
    # true:  0 0 1 1 2 2 ; predicted: 0 1 1 1 2 0
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    m = classification_metrics(y, probs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    # precision: a 1/2, b 2/3, c 1/1 ; recall: a 1/2, b 2/2, c 1/2
    assert m["macro_precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)
    assert m["macro_recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    f1 = [0.5, 2 * (2 / 3) / (2 / 3 + 1), 2 * 0.5 / 1.5]
    assert m["macro_f1"] == pytest.approx(np.mean(f1))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }


def test_roc_auc_is_perfect_for_a_perfect_ranking_and_half_for_a_constant():
    y = np.array([0, 1, 0, 1])
    assert (
        classification_metrics(y, np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]]), ["n", "p"])["roc_auc"]
        == 1.0
    )
    assert classification_metrics(y, np.full((4, 2), 0.5), ["n", "p"])["roc_auc"] == 0.5
