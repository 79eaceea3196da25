#!/usr/bin/python3
"""ROC / precision-recall / average-precision references from scikit-learn 1.2 for tests/test_curves.cpp.

Per case (probabilities [N, C], labels) and per class one-vs-rest: roc_curve with drop_intermediate True and False,
precision_recall_curve, average_precision_score. Cases: Dirichlet probabilities, rounded probabilities (many ties),
a class absent from the labels, all scores equal, a single label (one class without negatives, the other without
positives). Also NumPy's float64 sum of generated arrays longer than its 8192-element buffer (the order AP sums in).
NaN (undefined rates) is written as null. Writes tests/data/curves/curves.json.

Also the grouped-emotion references (tests/test_groups.cpp, groups.json): 7 FER2013 classes grouped as positive /
negative / neutral, probabilities summed within groups (in class order), then sklearn's accuracy, F1, one-vs-rest
AUROC and confusion matrix on the groups; and the ensemble references (tests/test_ensemble.cpp, ensemble.json):
three members' probabilities, their mean, each member's and the mean's metrics, the majority vote (ties: the
highest mean probability among the tied classes, then the lowest index) and its metrics.
Run: /usr/bin/python3 tools/make_curve_fixtures.py
"""
import json
import os
import warnings

import numpy as np
import sklearn
from sklearn import metrics as skm


def plain(a):
    return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=np.float64)]


def case(name, p, y, c):
    out = {"name": name, "c": c, "probs": p.flatten().tolist(), "labels": y.tolist(), "classes": []}
    for k in range(c):
        yk = (y == k).astype(int)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fpr, tpr, thr = skm.roc_curve(yk, p[:, k])
            fpr_all, tpr_all, thr_all = skm.roc_curve(yk, p[:, k], drop_intermediate=False)
            prec, rec, pthr = skm.precision_recall_curve(yk, p[:, k])
            ap = skm.average_precision_score(yk, p[:, k])
        out["classes"].append({"roc": [plain(fpr), plain(tpr), plain(thr)],
                               "roc_all": [plain(fpr_all), plain(tpr_all), plain(thr_all)],
                               "pr": [plain(prec), plain(rec), plain(pthr)],
                               "ap": None if np.isnan(ap) else float(ap)})
    return out


def report(p, y, c):
    labels = list(range(c))
    pred = p.argmax(1)
    present = [k for k in labels if (y == k).any() and (y != k).any()]
    auroc = [float(skm.roc_auc_score(y == k, p[:, k])) if k in present else None for k in labels]
    return {"accuracy": skm.accuracy_score(y, pred),
            "f1": skm.f1_score(y, pred, labels=labels, average=None, zero_division=0).tolist(),
            "macro_f1": skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0),
            "auroc": auroc, "auroc_macro": float(np.mean([a for a in auroc if a is not None])),
            "confusion": skm.confusion_matrix(y, pred, labels=labels).tolist()}


FER_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def grouped(name, spec, p, y):
    groups = [(g.split("=")[0], g.split("=")[1].split(",")) for g in spec.split(";")]
    group_of = {FER_CLASSES.index(c): gi for gi, (_, cs) in enumerate(groups) for c in cs}
    gp = np.zeros((len(y), len(groups)))
    for k in range(len(FER_CLASSES)):  # class-index order, as the C++ sums
        gp[:, group_of[k]] += p[:, k]
    gy = np.array([group_of[int(k)] for k in y])
    out = {"name": name, "spec": spec, "probs": p.flatten().tolist(), "labels": y.tolist(),
           "group_names": [g for g, _ in groups], "group_probs": gp.flatten().tolist(), "group_labels": gy.tolist()}
    out.update(report(gp, gy, len(groups)))
    return out


def vote(member_preds, mean, c):
    out = []
    for i in range(mean.shape[0]):
        counts = np.bincount(member_preds[:, i], minlength=c)
        tied = [k for k in range(c) if counts[k] == counts.max()]
        best = max(mean[i, k] for k in tied)
        out.append(min(k for k in tied if mean[i, k] == best))
    return np.array(out)


def ensemble(rng):
    c, n = 4, 90
    y = rng.integers(0, c, n)
    members = []
    for m in range(3):  # members of different strength: the true class boosted by 0.5, 1.0, 1.5
        logits = rng.normal(size=(n, c)) + np.eye(c)[y] * (0.5 + 0.5 * m)
        members.append(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
    members[2][:5] = members[1][:5]  # identical rows: vote ties broken by the mean
    mean = ((members[0] + members[1]) + members[2]) / 3.0
    preds = np.stack([p.argmax(1) for p in members])
    v = vote(preds, mean, c)
    return {"c": c, "labels": y.tolist(), "members": [p.flatten().tolist() for p in members],
            "mean": mean.flatten().tolist(), "member_reports": [report(p, y, c) for p in members],
            "mean_report": report(mean, y, c), "vote": v.tolist(),
            "vote_accuracy": skm.accuracy_score(y, v),
            "vote_macro_f1": skm.f1_score(y, v, labels=list(range(c)), average="macro", zero_division=0)}


def generated(n):
    # Only IEEE basic operations, so tests/test_curves.cpp builds the same array.
    i = np.arange(n, dtype=np.float64)
    return (np.mod(i * 7919.0, 10007.0) - 5003.0) / 7.0 * (1.0 + np.mod(i, 13.0) / 3.0)


def main():
    assert sklearn.__version__.startswith("1.2"), sklearn.__version__
    rng = np.random.default_rng(13)
    cases = []
    cases.append(case("dirichlet", rng.dirichlet(np.ones(4) * 0.8, 60), rng.integers(0, 4, 60), 4))
    p = np.round(rng.dirichlet(np.ones(3), 80), 1)
    cases.append(case("ties", p, rng.integers(0, 3, 80), 3))
    cases.append(case("absent_class", rng.dirichlet(np.ones(4), 50), rng.integers(0, 3, 50), 4))  # class 3 absent
    cases.append(case("all_same", np.full((20, 3), 1.0 / 3), rng.integers(0, 3, 20), 3))
    p2 = rng.random(30)
    cases.append(case("single_label", np.stack([p2, 1 - p2], 1), np.zeros(30, dtype=int), 2))
    sums = [{"n": n, "sum": float(np.sum(generated(n)))} for n in (7, 8, 100, 129, 1000, 8192, 8193, 20000)]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "curves", "curves.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"sklearn": sklearn.__version__, "cases": cases, "numpy_sums": sums}, f)
    print(path, os.path.getsize(path), "bytes")

    spec = "positive=happy,surprise;negative=angry,disgust,fear,sad;neutral=neutral"
    gcases = [grouped("fer7", spec, rng.dirichlet(np.ones(7) * 0.6, 120), rng.integers(0, 7, 120))]
    # No neutral sample: that group's AUROC is undefined.
    gcases.append(grouped("no_neutral", spec, np.round(rng.dirichlet(np.ones(7), 70), 2), rng.integers(0, 6, 70)))
    gcases.append(grouped("two_groups", "pos=happy,surprise,neutral;neg=angry,disgust,fear,sad",
                          rng.dirichlet(np.ones(7), 60), rng.integers(0, 7, 60)))
    for name, payload in (("groups.json", {"classes": FER_CLASSES, "cases": gcases}), ("ensemble.json", ensemble(rng))):
        p = os.path.join(os.path.dirname(path), name)
        with open(p, "w") as f:
            json.dump(payload, f)
        print(p, os.path.getsize(p), "bytes")


if __name__ == "__main__":
    main()
