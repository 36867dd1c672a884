"""The classic baseline a text classifier is judged against: TF-IDF n-grams and logistic regression.

Fitted on the same training split as the network (scikit-learn), its regularisation chosen on the validation
split, scored on the held-out split the run reports: ``metrics.json`` gets it as ``baseline`` and the log
warns when the network is below it. Word 1-2-grams always; character 1-3-grams too for text written without
spaces (Chinese, Japanese, Thai), where a "word" is a whole clause.
"""

from __future__ import annotations

import numpy as np

C_GRID = (0.5, 2.0, 8.0)


def spaceless(texts: list[str]) -> bool:
    """True for text mostly written without spaces (fewer than one space per 12 characters)."""
    sample = "".join(texts[:2000])
    return bool(sample) and sample.count(" ") < len(sample) / 12


def _features(texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    parts = [("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000))]
    if spaceless(texts):
        parts.append(("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                               max_features=200_000)))
    return FeatureUnion(parts)


def fit_and_score(train, val, held, class_count: int) -> dict:
    """``train`` / ``val`` / ``held``: labelled texts (``.texts``, ``.labels``); ``val`` may be None (then C = 2).
    Returns accuracy and macro F1 on ``held``, the n-grams used and the C chosen."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    features = _features(train.texts)
    x_train = features.fit_transform(train.texts)
    labels = list(range(class_count))

    def model(c):
        return LogisticRegression(C=c, max_iter=2000).fit(x_train, train.labels)

    best_c = 2.0
    if val is not None and len(val.texts):
        x_val = features.transform(val.texts)
        scores = {c: f1_score(val.labels, model(c).predict(x_val), average="macro", labels=labels) for c in C_GRID}
        best_c = max(scores, key=scores.get)
    pred = model(best_c).predict(features.transform(held.texts))
    truth = np.asarray(held.labels)
    return {"name": "tfidf_logreg", "accuracy": float(accuracy_score(truth, pred)),
            "macro_f1": float(f1_score(truth, pred, average="macro", labels=labels)),
            "features": "word 1-2-grams" + (" + character 1-3-grams" if len(features.transformer_list) > 1 else ""),
            "C": best_c}
