#!/usr/bin/python3
"""References for the embedding analysis (tests/test_embeddings.cpp) from scikit-learn 1.2 and SciPy.

Features: a seeded Gaussian mixture standing in for penultimate features, 7 classes x 2 domains (real = 0,
synthetic = 1) x 20 points in 16 dimensions; the synthetic domain is shifted along one random direction.
Stored with them:
  - PCA(5, svd_solver="full"): explained_variance_, explained_variance_ratio_, transform (projections);
  - t-SNE's joint probabilities P (sklearn.manifold._t_sne._joint_probabilities, perplexity 30) of the first 60
    points, condensed;
  - sklearn.manifold.TSNE(perplexity=30, init="pca", learning_rate="auto", random_state=0) embeddings, exact and
    Barnes-Hut, and trustworthiness (n_neighbors 5 and 10) of each, and of the 2-D PCA projection;
  - the Frechet distance of the two domains' features: |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)), np.cov
    (ddof 1), scipy.linalg.sqrtm;
  - the linear probe separating the domains: 5 folds, sample i in fold (its index among its domain's samples) % 5;
    per fold StandardScaler fitted on the training part and LogisticRegression(C=1, solver="newton-cholesky",
    tol 1e-12; the exact optimum: lbfgs stops ~1e-4 short of it here): each fold's accuracy and the decision
    function on fold 0's held-out samples.
Writes tests/data/embeddings/reference.json. Run: /usr/bin/python3 tools/make_embedding_fixtures.py
"""
import json
import os

import numpy as np
import scipy.linalg
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE, trustworthiness
from sklearn.manifold._t_sne import _joint_probabilities
from sklearn.metrics import pairwise_distances
from sklearn.preprocessing import StandardScaler

CLASSES, DOMAINS, PER, DIM, FOLDS = 7, 2, 20, 16, 5


def features():
    rng = np.random.RandomState(0)
    centres = 3.0 * rng.standard_normal((CLASSES, DIM))
    shift = rng.standard_normal(DIM)
    shift *= 0.8 / np.linalg.norm(shift)
    scales = 0.6 + 0.4 * rng.random_sample(DIM)
    X, y, d = [], [], []
    for dom in range(DOMAINS):
        for c in range(CLASSES):
            for _ in range(PER):
                X.append(centres[c] + dom * shift + scales * rng.standard_normal(DIM))
                y.append(c)
                d.append(dom)
    return np.array(X), np.array(y), np.array(d)


def frechet(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1.dot(s2)).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def probe(X, d):
    fold = np.zeros(len(d), dtype=int)
    for dom in range(DOMAINS):
        idx = np.where(d == dom)[0]
        fold[idx] = np.arange(len(idx)) % FOLDS
    accs, decision0 = [], None
    for f in range(FOLDS):
        tr, te = fold != f, fold == f
        sc = StandardScaler().fit(X[tr])
        lr = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(sc.transform(X[tr]), d[tr])
        accs.append(float((lr.predict(sc.transform(X[te])) == d[te]).mean()))
        if f == 0:
            decision0 = lr.decision_function(sc.transform(X[te])).tolist()
    return accs, decision0


def main():
    X, y, d = features()
    out = {"X": X.flatten().tolist(), "shape": list(X.shape), "labels": y.tolist(), "domains": d.tolist()}
    pca = PCA(n_components=5, svd_solver="full").fit(X)
    out["pca"] = {"explained_variance": pca.explained_variance_.tolist(),
                  "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
                  "projections": pca.transform(X).flatten().tolist()}
    sub = X[:60]
    out["joint_p60"] = _joint_probabilities(pairwise_distances(sub, squared=True), 30.0, 0).tolist()
    pca2 = PCA(n_components=2, svd_solver="full").fit_transform(X)
    out["trust"] = {"pca2_k5": float(trustworthiness(X, pca2, n_neighbors=5))}
    for method in ("exact", "barnes_hut"):
        emb = TSNE(n_components=2, perplexity=30.0, init="pca", learning_rate="auto", random_state=0,
                   method=method).fit_transform(X)
        out["tsne_" + method] = emb.flatten().tolist()
        for k in (5, 10):
            out["trust"][f"tsne_{method}_k{k}"] = float(trustworthiness(X, emb, n_neighbors=k))
    out["frechet"] = frechet(X[d == 0], X[d == 1])
    out["probe_fold_accuracy"], out["probe_decision_fold0"] = probe(X, d)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "embeddings", "reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("trust", out["trust"], "frechet", out["frechet"], "probe", out["probe_fold_accuracy"])
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
