#!/usr/bin/env python3
"""Writes tests/data/attributes/: an attributes CSV and the expected subsets and per-subgroup bootstrap report.

    /usr/bin/python3 tools/make_subgroup_fixtures.py

The references: scikit-learn 1.2 computes every metric (accuracy_score, f1_score macro over all classes with
zero_division=0, balanced_accuracy_score, roc_auc_score per class one-vs-rest) on every bootstrap resample, and
numpy.percentile (linear) gives the interval. The resample indices are fer's: this script draws them with its own
implementation of fer's generator (xoshiro256** seeded by splitmix64, below(n) = int(uniform * n) % n), so the C++
test compares the whole chain (draws, metrics, quantiles) with an independent computation.
The subset selections are recomputed here from their documented rule (largest-remainder split over the classes,
Fisher-Yates shuffles with fer's generator seeded from the seed and the value's FNV-1a hash).
"""
import json
import warnings
import math
import os

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score

M64 = (1 << 64) - 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "attributes")
CLASSES = ["angry", "happy", "sad"]


class Generator:
    """fer::Generator: xoshiro256** with a splitmix64-seeded state."""

    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    @staticmethod
    def rotl(x, k):
        return ((x << k) | (x >> (64 - k))) & M64

    def next_u64(self):
        s = self.s
        result = (self.rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = self.rotl(s[3], 45)
        return result

    def below(self, n):
        u = float(self.next_u64() >> 11) * 2.0 ** -53
        return int(u * float(n)) % n


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def apportion(exact):
    out = [math.floor(e) for e in exact]
    target = math.floor(sum(exact) + 0.5)
    order = sorted(range(len(exact)), key=lambda c: -(exact[c] - math.floor(exact[c])))  # stable
    k = 0
    while sum(out) < target and k < len(order):
        out[order[k]] += 1
        k += 1
    return out


def select_fractions(labels, values_of, spec, seed, candidates=None):
    attr_values, fractions = spec
    cand = range(len(labels)) if candidates is None else candidates
    pools = [[[] for _ in CLASSES] for _ in attr_values]
    for i in cand:
        v = values_of[i]
        if v in attr_values:
            pools[attr_values.index(v)][labels[i]].append(i)
    kept, counts = [], []
    for vi, (v, f) in enumerate(zip(attr_values, fractions)):
        per_class = apportion([f * len(pools[vi][c]) for c in range(len(CLASSES))])
        gen = Generator(((seed * 0x9E3779B97F4A7C15) & M64) ^ fnv1a64(v.encode()))
        for c in range(len(CLASSES)):
            pool = pools[vi][c]
            for i in range(len(pool), 1, -1):
                j = gen.below(i)
                pool[i - 1], pool[j] = pool[j], pool[i - 1]
            kept += pool[: per_class[c]]
        counts.append(per_class)
    return sorted(kept), counts


def metrics(p, y):
    pred = p.argmax(axis=1)
    auc = [roc_auc_score(y == k, p[:, k]) for k in range(len(CLASSES)) if 0 < (y == k).sum() < len(y)]
    return [accuracy_score(y, pred),
            f1_score(y, pred, average="macro", labels=list(range(len(CLASSES))), zero_division=0),
            balanced_accuracy_score(y, pred),
            float(np.mean(auc)) if auc else math.nan]


def bootstrap(p, y, seed, resamples, level):
    gen = Generator(seed)
    n = len(y)
    draws = [[] for _ in range(4)]
    for _ in range(resamples):
        idx = np.array([gen.below(n) for _ in range(n)])
        for k, v in enumerate(metrics(p[idx], y[idx])):
            if math.isfinite(v):
                draws[k].append(v)
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    return [(float(np.percentile(d, lo)), float(np.percentile(d, hi)), len(d)) for d in draws]


def main():
    # Resamples without some class raise this; scikit-learn then averages over the classes present, as fer does.
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.RandomState(13)
    n = 120
    labels = rng.randint(0, len(CLASSES), n)
    ids = [f"data/train/{CLASSES[labels[i]]}/face_{i:03d}.png" for i in range(n)]
    gender = rng.choice(["female", "male"], n, p=[0.55, 0.45]).tolist()
    age = rng.choice(["0-19", "20-39", "40+"], n).tolist()
    # A small group whose resamples often lack a class (undefined AUROC), rows with unknown values, images without a
    # row, and rows for files that are not in the set.
    for i in (3, 50, 77, 101):
        gender[i] = "nonbinary"
    for i in (8, 9):
        gender[i] = ""
    for i in (15,):
        age[i] = ""
    without_row = [5, 60, 119]
    # Probabilities that agree with the labels more often than not.
    logits = rng.randn(n, len(CLASSES)) + 1.6 * np.eye(len(CLASSES))[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    lines = ["file,gender,age_group"]
    for i in range(n):
        if i in without_row:
            continue
        key = f"{CLASSES[labels[i]]}/face_{i:03d}.png" if i % 2 else f"face_{i:03d}.png"  # both key forms
        lines.append(f"{key},{gender[i]},{age[i]}")
        if i == 40:
            lines.append("")  # blank lines are skipped
    lines.insert(30, "happy/face_999.png,female,20-39")
    lines.append("./missing/face_500.png,male,40+")
    with open(os.path.join(OUT, "faces.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")

    values = {"gender": [("" if i in without_row else gender[i]) for i in range(n)],
              "age_group": [("" if i in without_row else age[i]) for i in range(n)]}

    fixture = {"classes": CLASSES, "ids": ids, "labels": labels.tolist(), "probs": probs.ravel().tolist(),
               "values": values, "without_row": without_row, "unmatched_rows": 2}

    # --subset selections (the conditions' rule is plain set membership).
    def filt(conds):
        return [i for i in range(n) if i not in without_row and all(values[a][i] in vs for a, vs in conds)]

    fixture["subsets"] = [
        {"spec": "gender=female", "indices": filt([("gender", ["female"])])},
        {"spec": "age_group = 0-19 , 40+", "indices": filt([("age_group", ["0-19", "40+"])])},
        {"spec": "gender=male;age_group=20-39", "indices": filt([("gender", ["male"]), ("age_group", ["20-39"])])},
    ]
    # --subset_fraction selections for fixed seeds.
    fixture["fractions"] = []
    for spec, seed, cond in [("gender=female:1.0,male:0.75", 0, None), ("gender=female:1.0,male:0.75", 7, None),
                             ("gender=male:0.75,female:1.0", 7, None), ("gender=female:0.5,nonbinary:0.5", 3, None),
                             ("gender=female:0.3,male:0.6", 11, "age_group=20-39,40+")]:
        body = spec.split("=", 1)[1]
        vals = [x.split(":")[0] for x in body.split(",")]
        fr = [float(x.split(":")[1]) for x in body.split(",")]
        cand = None
        if cond:
            cand = filt([("age_group", cond.split("=")[1].split(","))])
        kept, counts = select_fractions(labels.tolist(), values["gender"], (vals, fr), seed, cand)
        fixture["fractions"].append({"spec": spec, "seed": seed, "subset": cond or "", "indices": kept,
                                     "kept_per_class": counts})

    # Per-subgroup report: groups "all", then values in order of first appearance; group g draws with seed*phi + g.
    seed, resamples, level = 5, 1000, 0.95
    reports = []
    for attr in ("gender", "age_group"):
        names = ["all"]
        for v in values[attr]:
            if v and v not in names:
                names.append(v)
        groups = []
        for g, name in enumerate(names):
            members = np.array([i for i in range(n) if name == "all" or values[attr][i] == name])
            p, y = probs[members], labels[members]
            ci = bootstrap(p, y, ((seed * 0x9E3779B97F4A7C15) + g) & M64, resamples, level)
            groups.append({"value": name, "n": len(members), "point": metrics(p, y),
                           "low": [c[0] for c in ci], "high": [c[1] for c in ci], "finite": [c[2] for c in ci]})
        reports.append({"attribute": attr, "groups": groups})
    fixture["report"] = {"seed": seed, "resamples": resamples, "level": level, "attributes": reports}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(fixture, f)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
