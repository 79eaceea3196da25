#!/usr/bin/python3
"""Metric references from scikit-learn (Debian python3-sklearn) for tests/test_metrics.cpp.

Cases: Dirichlet probabilities for 7 and 8 classes, a class absent from the labels, a class never predicted,
rounded probabilities (ties), perfect and worst predictions, 2 classes. ECE follows the documented definition
(15 equal-width bins, bin = min(floor(conf * 15), 14)) in plain numpy.
Writes tests/data/metrics/cases.json. Run: /usr/bin/python3 tools/make_metric_fixtures.py
"""
import json
import os

import numpy as np
from sklearn import metrics as skm


def ece(p, y, bins=15):
    conf = p.max(1)
    pred = p.argmax(1)
    idx = np.minimum(np.floor(conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += abs((pred[m] == y[m]).mean() - conf[m].mean()) * m.sum() / len(y)
    return total


def case(name, p, y, c):
    labels = list(range(c))
    pred = p.argmax(1)
    prec, rec, f1, sup = skm.precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    out = {"name": name, "c": c, "probs": p.flatten().tolist(), "labels": y.tolist(),
           "accuracy": skm.accuracy_score(y, pred), "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
           "precision": prec.tolist(), "recall": rec.tolist(), "f1": f1.tolist(), "support": sup.tolist()}
    for avg in ("macro", "weighted"):
        pr, rc, f, _ = skm.precision_recall_fscore_support(y, pred, labels=labels, average=avg, zero_division=0)
        out[avg] = [pr, rc, f]
    out["confusion"] = skm.confusion_matrix(y, pred, labels=labels).tolist()
    present = [k for k in labels if (y == k).any() and (y != k).any()]
    out["auroc"] = [skm.roc_auc_score(y == k, p[:, k]) if k in present else None for k in labels]
    out["auroc_macro"] = float(np.mean([out["auroc"][k] for k in present]))
    out["top_k"] = {str(k): skm.top_k_accuracy_score(y, p, k=k, labels=labels) for k in (1, 2, 3) if k < c and c > 2}
    out["log_loss"] = skm.log_loss(y, p, labels=labels)
    out["ece"] = ece(p, y)
    return out


def main():
    rng = np.random.default_rng(2026)
    cases = []
    for c, n in ((7, 200), (8, 180)):
        p = rng.dirichlet(np.ones(c) * 0.7, n)
        y = rng.integers(0, c, n)
        cases.append(case(f"dirichlet_c{c}", p, y, c))
    p = rng.dirichlet(np.ones(7), 150)
    y = rng.integers(0, 6, 150)  # class 6 absent from the labels
    cases.append(case("absent_class", p, y, 7))
    p = rng.dirichlet(np.ones(5), 120)
    p[:, 2] = 0.0  # class 2 never predicted (zero division in its precision)
    p /= p.sum(1, keepdims=True)
    cases.append(case("never_predicted", p, rng.integers(0, 5, 120), 5))
    p = np.round(rng.dirichlet(np.ones(4), 100), 1)  # many ties
    p = np.where(p.sum(1, keepdims=True) == 0, 0.25, p)
    cases.append(case("ties", p, rng.integers(0, 4, 100), 4))
    y = rng.integers(0, 3, 60)
    cases.append(case("perfect", np.eye(3)[y] * 0.9 + 0.1 / 3, y, 3))
    cases.append(case("worst", np.eye(3)[(y + 1) % 3], y, 3))
    p2 = rng.random(80)
    cases.append(case("binary", np.stack([1 - p2, p2], 1), rng.integers(0, 2, 80), 2))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "metrics", "cases.json")
    with open(path, "w") as f:
        json.dump(cases, f)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
