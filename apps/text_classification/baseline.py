"""The classic baseline a text classifier is judged against: TF-IDF n-grams and logistic regression.

Fitted on the same training split as the network (scikit-learn), its regularisation chosen on the validation
split, scored on the held-out split the run reports: ``metrics.json`` gets it as ``baseline`` and the log
warns when the network is below it. Word 1-2-grams always; character 1-3-grams too for text written without
spaces (Chinese, Japanese, Thai), where a "word" is a whole clause.

The linear model (``--model linear``) starts from the same regression, fitted on the features its graph
computes from token ids (``tfidf_rows``: the twin of ``model.py``'s in-graph TF-IDF), so it begins where the
convex optimum of its own inputs is and training goes on from there.
"""

from __future__ import annotations

import numpy as np

C_GRID = (0.5, 2.0, 8.0)
_SCORED: dict[str, dict] = {}  # fit_and_score's results by the splits' digest: ``--model auto`` candidates and
#                                tune trials share one data set, so they share one fit (10 s on 9,600 reviews)


def _digest(class_count: int, *parts) -> str:
    import hashlib

    h = hashlib.sha256(str(class_count).encode())
    for part in parts:
        if part is None:
            h.update(b"\x00none")
            continue
        for text, label in zip(part.texts, part.labels):
            h.update(f"{int(label)}\x1f{len(text)}\x1f".encode())
            h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.hexdigest()


def spaceless(texts: list[str]) -> bool:
    """True for text mostly written without spaces (fewer than one space per 12 characters)."""
    sample = "".join(texts[:2000])
    return bool(sample) and sample.count(" ") < len(sample) / 12


def _features(texts: list[str]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    parts = [("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=200_000))]
    if spaceless(texts):
        parts.append(
            ("chars", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, max_features=200_000))
        )
    return FeatureUnion(parts)


def fit_and_score(train, val, held, class_count: int) -> dict:
    """``train`` / ``val`` / ``held``: labelled texts (``.texts``, ``.labels``); ``val`` may be None (then C = 2).
    Returns accuracy and macro F1 on ``held``, the n-grams used and the C chosen; the same splits again give
    the same result without a second fit."""
    key = _digest(class_count, train, val, held)
    if key not in _SCORED:
        _SCORED[key] = _fit_and_score(train, val, held, class_count)
    return dict(_SCORED[key])


def _fit_and_score(train, val, held, class_count: int) -> dict:
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
    return {
        "name": "tfidf_logreg",
        "accuracy": float(accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, average="macro", labels=labels)),
        "features": "word 1-2-grams" + (" + character 1-3-grams" if len(features.transformer_list) > 1 else ""),
        "C": best_c,
    }


def tfidf_rows(ids: np.ndarray, idf, size: int):
    """(N, length) token ids -> the linear model's inputs as a sparse (N, size) matrix: ``(1 + ln tf) * idf`` per
    distinct non-zero id, each row scaled to unit L2 norm (all-zero rows stay zero)."""
    import scipy.sparse as sp

    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    keep = ids.ravel() > 0
    counts = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], ids.ravel()[keep])), shape=(len(ids), size))
    counts.sum_duplicates()
    counts.data = 1 + np.log(counts.data)
    x = counts @ sp.diags(np.asarray(idf, np.float64))
    norm = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    return (sp.diags(1 / np.where(norm > 0, norm, 1)) @ x).tocsr()


def fit_linear_start(ids: dict, splits, idf, class_count: int, class_weight: str = "none") -> dict:
    """Logistic regression on :func:`tfidf_rows` of ``ids["train"]`` (its C chosen on ``ids["val"]`` by macro
    F1, from ``C_GRID`` and one step beyond it): ``coef`` (classes, size), ``intercept``, ``C`` (and
    ``val_macro_f1``). Every class is in the training split (the loader refuses a split without one)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    x = tfidf_rows(ids["train"], idf, len(idf))
    weight = "balanced" if class_weight == "balanced" else None

    def model(c):
        return LogisticRegression(C=c, max_iter=2000, class_weight=weight).fit(x, splits.train.labels)

    out: dict = {}
    if "val" in ids:
        x_val, labels = tfidf_rows(ids["val"], idf, len(idf)), list(range(class_count))
        for c in C_GRID + (4 * C_GRID[-1],):
            fitted = model(c)
            score = f1_score(splits.val.labels, fitted.predict(x_val), average="macro", labels=labels)
            if not out or score > out["val_macro_f1"]:
                out = {"C": c, "val_macro_f1": float(score), "fitted": fitted}
        fitted = out.pop("fitted")
    else:
        fitted, out["C"] = model(2.0), 2.0
    coef, intercept = fitted.coef_, fitted.intercept_
    if class_count == 2:  # scikit-learn keeps one row for two classes: class 1's score against class 0's
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return {**out, "coef": coef, "intercept": intercept}
